"""Class heads: numbers against the numpy references (through the same pure functions the
deprecated loss classes use), the registry, serialisation, degenerate batches and errors."""

import warnings

import keras
import numpy as np
import pytest

from embedding_net import heads, losses
from tests.losses import modern_reference as ref

C, D = 5, 6

# (head, numpy reference of its per-sample values or scalar, deprecated loss class)
CASES = [
    (
        lambda: heads.ArcFaceHead(C, D, margin=0.3, scale=10.0),
        lambda y, x, w: ref.arcface(y, x, w, 0.3, 10.0),
        lambda: losses.ArcFaceLoss(C, D, margin=0.3, scale=10.0),
    ),
    (
        lambda: heads.SubCenterArcFaceHead(C, D, num_centers=3, margin=0.4, scale=16.0),
        lambda y, x, w: ref.arcface(y, x, w, 0.4, 16.0, num_centers=3),
        lambda: losses.SubCenterArcFaceLoss(C, D, num_centers=3, margin=0.4, scale=16.0),
    ),
    (
        lambda: heads.CosFaceHead(C, D, margin=0.35, scale=30.0),
        lambda y, x, w: ref.cosface(y, x, w, 0.35, 30.0),
        lambda: losses.CosFaceLoss(C, D, margin=0.35, scale=30.0),
    ),
    (
        lambda: heads.IdentitySoftmaxHead(C, D, label_smoothing=0.1, scale=16.0),
        lambda y, x, w: ref.smoothed_cross_entropy(y, 16.0 * x.astype("float64") @ w.T, 0.1),
        lambda: losses.IdentitySoftmaxLoss(C, D, label_smoothing=0.1, scale=16.0),
    ),
    (
        lambda: heads.ProxyAnchorHead(C, D, alpha=16.0, margin=0.2),
        lambda y, x, w: ref.proxy_anchor(y, x, w, 16.0, 0.2),
        lambda: losses.ProxyAnchorLoss(C, D, alpha=16.0, margin=0.2),
    ),
    (
        lambda: heads.ProxyNCAHead(C, D, scale=3.0),
        lambda y, x, w: ref.proxy_nca(y, x, w, 3.0),
        lambda: losses.ProxyNCALoss(C, D, scale=3.0),
    ),
    (
        lambda: heads.SoftTripleHead(C, D, num_centers=2, gamma=0.2),
        lambda y, x, w: ref.softtriple(y, x, w, 2, gamma=0.2),
        lambda: losses.SoftTripleLoss(C, D, num_centers=2, gamma=0.2),
    ),
    (
        lambda: heads.CenterHead(C, D, initializer="random_normal"),
        lambda y, x, w: ref.center(y, x, w),
        lambda: losses.CenterLoss(C, D, initializer="random_normal"),
    ),
]


def _batch(seed=0, n=10):
    rng = np.random.default_rng(seed)
    return rng.integers(0, C, n), rng.normal(size=(n, D)).astype("float32")


@pytest.mark.parametrize("make, reference, make_loss", CASES)
def test_values_match_numpy_and_the_deprecated_loss(make, reference, make_loss):
    head = make()
    labels, x = _batch()
    w = ref.to_numpy(head.weight_matrix)
    got = ref.to_numpy(head(x, labels))
    np.testing.assert_allclose(got, reference(labels, x, w), rtol=1e-4, atol=1e-4)
    with pytest.warns(DeprecationWarning, match="ClassifierTrainingModel"):
        loss = make_loss()
    loss.layer.set_weights(head.get_weights())
    # the deprecated class computes the same numbers (it holds a head of the same class)
    assert type(loss.layer) is type(head)
    # (Keras' mean over the batch; Proxy-Anchor's value is already a scalar)
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), got.mean(), rtol=1e-6)


@pytest.mark.parametrize("make, reference, make_loss", CASES)
def test_serialisation_round_trip_keeps_config_and_values(make, reference, make_loss):
    head = make()
    config = keras.saving.serialize_keras_object(head)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(head) and clone.get_config() == head.get_config()
    assert clone.built and clone.embedding_dim == D
    clone.set_weights(head.get_weights())
    labels, x = _batch(1)
    np.testing.assert_allclose(ref.to_numpy(clone(x, labels)), ref.to_numpy(head(x, labels)))


@pytest.mark.parametrize("make, reference, make_loss", CASES)
def test_degenerate_batches_give_finite_values_and_gradients(make, reference, make_loss):
    head = make()
    same = np.repeat(_batch(2)[1][:1], 4, axis=0)  # identical embeddings, one class
    labels = np.zeros(4, int)
    value, grad = ref.value_and_grad(lambda v: head(v, labels), same)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    zeros = np.zeros((3, D), "float32")  # zero embeddings: l2-normalisation stays finite
    value, grad = ref.value_and_grad(lambda v: head(v, np.arange(3)), zeros)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


def test_nan_embeddings_propagate():
    head = heads.CosFaceHead(C, D)
    x = np.full((2, D), np.nan, "float32")
    assert np.all(np.isnan(ref.to_numpy(head(x, np.array([0, 1])))))


def test_lazy_build_and_default_initializers():
    head = heads.ArcFaceHead(3)
    assert not head.built and head.embedding_dim is None
    head(np.ones((2, 4), "float32"), np.array([0, 1]))
    assert tuple(head.weight_matrix.shape) == (3, 4) and head.embedding_dim == 4
    np.testing.assert_array_equal(ref.to_numpy(heads.CenterHead(3, 4).weight_matrix), 0.0)
    assert tuple(heads.SoftTripleHead(3, 4).weight_matrix.shape) == (30, 4)
    assert heads.ProxyAnchorHead(3, 4).default_initializer == "he_normal"
    glorot = heads.CosFaceHead(3, 4, initializer=keras.initializers.GlorotUniform(seed=1))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(glorot))
    assert clone.get_config()["initializer"]["class_name"] == "GlorotUniform"


def test_wrong_shapes_and_arguments_are_refused():
    head = heads.CosFaceHead(3, 4)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        head(np.ones((2, 5), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match="embeddings must have shape"):
        heads.CosFaceHead(3).build((4,))
    with pytest.raises(ValueError, match="num_classes"):
        heads.ArcFaceHead(0)
    with pytest.raises(ValueError, match="embedding_dim"):
        heads.ArcFaceHead(3, embedding_dim=-1)
    with pytest.raises(ValueError, match="num_centers"):
        heads.SubCenterArcFaceHead(3, num_centers=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        heads.IdentitySoftmaxHead(3, label_smoothing=1.5)
    with pytest.raises(ValueError, match="scale"):
        heads.IdentitySoftmaxHead(3, scale=0.0)


def test_registry():
    assert set(heads.available_heads()) >= {
        "arcface",
        "cosface",
        "sub-center-arcface",
        "identity-softmax",
        "proxy-anchor",
        "proxy-nca",
        "softtriple",
        "center",
    }
    head = heads.get_head("Proxy_Anchor", num_classes=3, embedding_dim=4)
    assert isinstance(head, heads.ProxyAnchorHead) and head.num_classes == 3
    assert isinstance(heads.get_head("CosFaceHead", num_classes=2), heads.CosFaceHead)
    assert heads.get_head(head) is head
    clone = heads.get_head(keras.saving.serialize_keras_object(head))
    assert isinstance(clone, heads.ProxyAnchorHead)
    with pytest.raises(ValueError, match="Unknown head 'nope'.*arcface"):
        heads.get_head("nope")


def test_mixed_precision_policy_keeps_float32_heads():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        head = heads.CosFaceHead(C, D)
        labels, x = _batch(3)
        value = head(x.astype("float16"), labels.astype("float32"))
    finally:
        keras.config.set_dtype_policy(previous)
    assert head.weight_matrix.dtype == "float32"
    assert keras.backend.standardize_dtype(value.dtype) == "float32"


def test_deprecated_loss_keeps_its_config():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loss = losses.SubCenterArcFaceLoss(4, 6, num_centers=2, margin=0.3)
        clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.get_config() == loss.get_config()
    assert clone.get_config()["num_centers"] == 2 and "num_centers" not in (
        losses.ArcFaceLoss(4).get_config()
    )
