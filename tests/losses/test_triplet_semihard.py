"""TFA semi-hard / hard losses beyond the reference file: the compact and the sort-based
semi-hard paths against a brute-force numpy loop, every positive tier, ties, compilation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import losses as L
from embedding_net.losses import triplet as T


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _tfa_semihard_numpy(y, d, margin):
    """Brute-force float64 loop with tensorflow-addons' rules (README of the reference)."""
    total, count = 0.0, 0
    for a in range(len(y)):
        neg = [n for n in range(len(y)) if y[n] != y[a]]
        row_min = d[a].min()
        for p in range(len(y)):
            if p == a or y[p] != y[a]:
                continue
            far = [d[a, n] for n in neg if d[a, n] > d[a, p]]
            dn = min(far) if far else (max(d[a, neg]) if neg else row_min)
            total += max(margin + d[a, p] - dn, 0.0)
            count += 1
    return total / count if count else 0.0


def _squared(x):
    x = x.astype(np.float64)
    sq = (x**2).sum(1)
    return np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0) * (1 - np.eye(len(x)))


@pytest.mark.parametrize("num_classes", [1, 2, 5, 40])  # tiers: > 32, <= 32, <= 8 positives
def test_semihard_all_tiers_match_bruteforce(num_classes):
    rng = np.random.default_rng(num_classes)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, num_classes, size=40)
    got = float(_np(L.triplet_semihard_loss(y, x, 0.5, "squared-L2")))
    want = _tfa_semihard_numpy(y, _squared(x), 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [8, 32])
def test_compact_path_equals_sorted_path(k):
    rng = np.random.default_rng(k)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = rng.integers(0, 6, size=24)
    d = L.triplet.tfa_distance_matrix(keras.ops.convert_to_tensor(x), "L2")
    from embedding_net.miners import label_masks

    pos, neg = label_masks(y)
    if int(_np(keras.ops.max(keras.ops.sum(keras.ops.cast(pos, "int32"), 1)))) > k:
        pytest.skip("batch has more positives than the tier")
    a = float(_np(T._semihard_sum_compact(d, pos, neg, 1.0, k)))
    b = float(_np(T._semihard_sum_sorted(d, pos, neg, 1.0)))
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_semihard_ties_use_strictly_farther_negatives():
    # anchor 0: positive 1 at distance 1; negative 2 also at distance 1 (tie: not farther);
    # negative 3 at distance 2 is the semi-hard one -> term = margin + 1 - 2
    x = np.array([[0, 0], [1, 0], [0, 1], [0, 2]], "float32")
    y = np.array([0, 0, 1, 2])
    d = np.sqrt(_squared(x))
    want = _tfa_semihard_numpy(y, d, 1.5)
    got = float(_np(L.triplet_semihard_loss(y, x, 1.5)))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _compiled(fn):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiler for backend {backend}")


@pytest.mark.parametrize("num_classes", [1, 2, 16])  # traced ops.cond: sort, k=32, k=4
def test_tfa_losses_compile(num_classes):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 8)).astype("float32")
    y = rng.integers(0, num_classes, size=40).astype("int32")

    def both(yy, xx):
        return L.triplet_semihard_loss(yy, xx), L.triplet_hard_loss(yy, xx, soft=True)

    got = _compiled(both)(y, x)
    want = both(y, x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(float(_np(g)), float(_np(w)), rtol=1e-5)


def test_dtype_and_label_handling():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    out = L.triplet_semihard_loss(y, x.astype("float16"))
    assert "float16" in str(out.dtype)  # result cast back, as tensorflow-addons
    np.testing.assert_allclose(
        float(_np(out)),
        float(_np(L.triplet_semihard_loss(y, x.astype("float16").astype("float32")))),
        rtol=1e-3,
    )
    # (B, 1) float labels, as Keras passes them, give the same value as int labels
    np.testing.assert_allclose(
        float(_np(L.triplet_hard_loss(y.reshape(-1, 1).astype("float32"), x))),
        float(_np(L.triplet_hard_loss(y, x))),
    )
    with pytest.raises(ValueError, match="y_pred"):
        L.triplet_semihard_loss(y, x[:, :, None])
