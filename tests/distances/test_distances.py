"""Distances against brute-force numpy (float64), zero-distance gradients, objects, registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import distances as D


def _np(x):
    return keras.ops.convert_to_numpy(x)


def value_and_grad(fn, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = fn(xt)
        return np.asarray(out), np.asarray(tape.gradient(out, xt))
    if backend == "jax":
        import jax

        out, grad = jax.value_and_grad(fn)(x)
        return np.asarray(out), np.asarray(grad)
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(9, 5)).astype("float32")


def _np_l2(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))


def _np_cos(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    return an @ bn.T


def test_pairwise_distance_matches_bruteforce(x):
    np.testing.assert_allclose(_np(D.pairwise_distance(x)), _np_l2(x, x), atol=1e-5)
    np.testing.assert_allclose(
        _np(D.pairwise_distance(x, squared=True)), _np_l2(x, x) ** 2, rtol=1e-5, atol=1e-4
    )
    assert np.all(np.diag(_np(D.pairwise_distance(x))) == 0)


def test_cross_and_similarity_matrices(x):
    y = x[:4] * 2.0 + 0.1
    np.testing.assert_allclose(_np(D.euclidean_distance_matrix(x, y)), _np_l2(x, y), atol=1e-5)
    np.testing.assert_allclose(_np(D.cosine_similarity_matrix(x, y)), _np_cos(x, y), atol=1e-6)
    np.testing.assert_allclose(_np(D.cosine_similarity(x)), _np_cos(x, x), atol=1e-6)
    np.testing.assert_allclose(
        _np(D.angular_distance(x)), np.maximum(1 - _np_cos(x, x), 0), atol=1e-6
    )


@pytest.mark.parametrize("p", [1.0, 3.0, float("inf")])
def test_lp_distance_bruteforce(x, p):
    diff = np.abs(x[:, None].astype(np.float64) - x[None])
    expected = diff.max(-1) if p == float("inf") else (diff**p).sum(-1) ** (1 / p)
    np.testing.assert_allclose(_np(D.LpDistance(p=p)(x)), expected, rtol=1e-5, atol=1e-5)


def test_zero_distance_gradient_is_finite_and_zero():
    x = np.ones((4, 3), "float32")  # all rows identical
    for fn in (
        lambda v: keras.ops.sum(D.pairwise_distance(v)),
        lambda v: keras.ops.sum(D.pairwise_distance(v, squared=True)),
        lambda v: keras.ops.sum(D.EuclideanDistance()(v, v)),
        lambda v: keras.ops.sum(D.LpDistance(p=1.0)(v)),
        lambda v: keras.ops.sum(D.angular_distance(v)),
    ):
        value, grad = value_and_grad(fn, x)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
    _, grad = value_and_grad(lambda v: keras.ops.sum(D.pairwise_distance(v)), x)
    assert np.all(grad == 0.0)
    # the zero vector: normalisation keeps it finite
    _, grad = value_and_grad(
        lambda v: keras.ops.sum(D.cosine_similarity(v)), np.zeros((3, 2), "float32")
    )
    assert np.all(np.isfinite(grad))


def test_distance_objects_and_margin(x):
    cases = {
        "L2": (_np_l2(x, x), False),
        "euclidean": (_np_l2(x, x), False),
        "squared-L2": (_np_l2(x, x) ** 2, False),
        "angular": (np.maximum(1 - _np_cos(x, x), 0), False),
        "cosine": (_np_cos(x, x), True),
    }
    for name, (expected, inverted) in cases.items():
        dist = D.get_distance(name)
        assert dist.is_inverted is inverted
        np.testing.assert_allclose(_np(dist(x)), expected, rtol=1e-4, atol=1e-4)
    assert float(D.EuclideanDistance().margin(1.0, 3.0)) == -2.0  # closer: no violation
    assert float(D.CosineSimilarity().margin(0.9, 0.2)) == pytest.approx(-0.7)
    np.testing.assert_allclose(
        _np(D.EuclideanDistance(normalize_embeddings=True)(x)),
        _np_l2(
            x / np.linalg.norm(x, axis=1, keepdims=True),
            x / np.linalg.norm(x, axis=1, keepdims=True),
        ),
        atol=1e-5,
    )


def test_get_distance_accepts_objects_callables_and_rejects_unknown(x):
    dist = D.SquaredEuclideanDistance()
    assert D.get_distance(dist) is dist
    wrapped = D.get_distance(D.pairwise_distance)
    assert isinstance(wrapped, D.FunctionDistance)
    np.testing.assert_allclose(_np(wrapped(x)), _np(D.pairwise_distance(x)))
    with pytest.raises(ValueError, match="squared-L2"):
        D.get_distance("manhattan-ish")
    with pytest.raises(ValueError, match="expected one of"):
        D.get_distance(3)
    with pytest.raises(ValueError, match="2-D"):
        D.pairwise_distance(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="`p`"):
        D.LpDistance(p=0.5)


@pytest.mark.parametrize(
    "obj",
    [
        D.EuclideanDistance(),
        D.SquaredEuclideanDistance(normalize_embeddings=True),
        D.LpDistance(p=1.0, power=2.0),
        D.CosineSimilarity(),
        D.AngularDistance(),
    ],
)
def test_distance_serialization_round_trip(obj, x):
    config = keras.saving.serialize_keras_object(obj)
    back = keras.saving.deserialize_keras_object(config)
    assert type(back) is type(obj)
    assert back.get_config() == obj.get_config()
    np.testing.assert_allclose(_np(back(x)), _np(obj(x)))
    assert D.deserialize_distance(D.serialize_distance(obj)).get_config() == obj.get_config()
