"""Contrastive loss against a hand-computed numpy reference."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import losses as L


def _reference(y, d, margin):
    y, d = y.astype(np.float64), d.astype(np.float64)
    return y * d**2 + (1 - y) * np.maximum(margin - d, 0) ** 2


def test_hand_computed_values():
    y = np.array([1, 1, 0, 0, 0])
    d = np.array([0.0, 0.5, 0.2, 1.0, 1.7], "float32")
    # similar: d^2 = 0, 0.25; dissimilar with margin 1: (0.8)^2, 0, 0
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(L.contrastive_loss(y, d)), [0, 0.25, 0.64, 0, 0], atol=1e-6
    )


@pytest.mark.parametrize("margin", [0.3, 1.0, 2.5])
def test_matches_numpy_and_class_reduces_to_mean(margin):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=32)
    d = rng.uniform(0, 3, size=32).astype("float32")
    ref = _reference(y, d, margin)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(L.contrastive_loss(y, d, margin)), ref, rtol=1e-5, atol=1e-6
    )
    loss = L.ContrastiveLoss(margin=margin)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loss(y, d))), ref.mean(), rtol=1e-5)
    w = rng.uniform(size=32).astype("float32")
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(loss(y, d, sample_weight=w))), (ref * w).mean(), rtol=1e-5
    )
    assert loss.get_config()["margin"] == margin
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(back, L.ContrastiveLoss) and back.get_config() == loss.get_config()


def test_float_labels_and_integer_distances():
    out = L.contrastive_loss(np.array([1.0, 0.0], "float32"), np.array([2, 0]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), [4.0, 1.0])


def _batch_reference(y, x, margin, ry=None, rx=None):
    same_batch = ry is None
    ry, rx = (y, x) if same_batch else (ry, rx)
    d = np.sqrt(((x[:, None].astype(np.float64) - rx[None]) ** 2).sum(-1))
    out = []
    for a in range(len(y)):
        terms = [
            d[a, j] ** 2 if ry[j] == y[a] else max(margin - d[a, j], 0.0) ** 2
            for j in range(len(ry))
            if not (same_batch and j == a)
        ]
        out.append(np.mean(terms) if terms else 0.0)
    return np.array(out)


def test_batch_contrastive_loss_bruteforce_reference_set_and_round_trip():
    rng = np.random.default_rng(7)
    y, x = rng.integers(0, 3, 10), rng.normal(size=(10, 4)).astype("float32")
    ry, rx = rng.integers(0, 3, 6), rng.normal(size=(6, 4)).astype("float32")
    got = keras.ops.convert_to_numpy(L.batch_contrastive_loss(y, x, 2.0))
    np.testing.assert_allclose(got, _batch_reference(y, x, 2.0), rtol=1e-4, atol=1e-5)
    got = L.batch_contrastive_loss(y, x, 2.0, ref_labels=ry, ref_embeddings=rx)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), _batch_reference(y, x, 2.0, ry, rx), rtol=1e-4, atol=1e-5
    )
    loss = L.BatchContrastiveLoss(margin=2.0, miner="batch-all")
    np.testing.assert_allclose(float(loss(y, x)), _batch_reference(y, x, 2.0).mean(), rtol=1e-4)
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(back) is L.BatchContrastiveLoss and back.get_config() == loss.get_config()
    assert isinstance(L.get("batch-contrastive"), L.BatchContrastiveLoss)
    single = L.batch_contrastive_loss(np.array([0]), x[:1])  # one anchor, no pair: 0
    assert float(keras.ops.convert_to_numpy(single)[0]) == 0.0
    with pytest.raises(ValueError, match="similarity"):
        L.batch_contrastive_loss(y, x, distance="cosine")
    with pytest.raises(ValueError, match="margin"):
        L.BatchContrastiveLoss(margin=-1.0)
