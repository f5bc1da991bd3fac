"""Batch-hard losses differentiate only the two mined entries per anchor (Distance.paired).

The fast path must give the values and gradients of the path through the full matrix
(``Miner.triplet_distances``), on every backend; the matrix path is reached by turning the
distance's ``has_fast_paired`` off.
"""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from embedding_net import losses as L
from embedding_net import miners as M
from embedding_net.distances import get_distance
from embedding_net.distances.objects import Distance
from tests.losses.test_tfa_parity import value_and_grad as _value_and_grad


def _both_paths(monkeypatch, fn, x):
    fast = _value_and_grad(fn, x)
    with monkeypatch.context() as m:
        m.setattr(Distance, "has_fast_paired", property(lambda self: False))
        slow = _value_and_grad(fn, x)
    return fast, slow


@pytest.fixture
def batch():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 8)).astype("float32")
    y = np.repeat(np.arange(6), 4).astype("int32")
    y[-1] = 99  # a singleton: no positive, its term is 0 on both paths
    return y, x


@pytest.mark.parametrize("distance", ["L2", "squared-L2", "cosine", "angular", "dot"])
@pytest.mark.parametrize("soft", [False, True])
def test_fast_path_matches_the_matrix_path(monkeypatch, batch, distance, soft):
    y, x = batch

    def loss(v):
        return ops.sum(L.batch_hard_triplet_loss(y, v, margin=0.3, soft=soft, distance=distance))

    (fast_v, fast_g), (slow_v, slow_g) = _both_paths(monkeypatch, loss, x)
    np.testing.assert_allclose(fast_v, slow_v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast_g, slow_g, rtol=1e-4, atol=1e-5)
    assert np.abs(fast_g).sum() > 0  # the loss is active: the comparison is not 0 == 0


def test_fast_path_against_a_reference_set(monkeypatch, batch):
    y, x = batch
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(10, 8)).astype("float32")
    ref_labels = np.arange(10).astype("int32") % 6
    valid = np.ones(10, bool)
    valid[3] = False

    def loss(v):
        return ops.sum(
            L.batch_hard_triplet_loss(
                y, v, margin=0.3, ref_labels=ref_labels, ref_embeddings=ref, ref_valid=valid
            )
        )

    (fast_v, fast_g), (slow_v, slow_g) = _both_paths(monkeypatch, loss, x)
    np.testing.assert_allclose(fast_v, slow_v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast_g, slow_g, rtol=1e-4, atol=1e-5)


def test_triplet_indices_agree_with_mine_and_triplet_distances(batch):
    y, x = batch
    d = get_distance("L2")(x)
    miner = M.BatchHardMiner()
    pos, neg, has_pos, has_neg = (np.asarray(t) for t in miner.triplet_indices(d, y))
    mined = miner.mine(d, y)
    np.testing.assert_array_equal(pos[has_pos], np.asarray(mined.positive).argmax(1)[has_pos])
    np.testing.assert_array_equal(neg, np.asarray(mined.negative).argmax(1))
    assert has_pos.tolist() == [True] * 23 + [False] and has_neg.all()
    # the generic (base class) version, from mine()'s one-hot rows, gives the same columns
    base = [np.asarray(t) for t in M.Miner.triplet_indices(miner, d, y)]
    np.testing.assert_array_equal(base[0][has_pos], pos[has_pos])
    np.testing.assert_array_equal(base[1], neg)
    d_np = np.asarray(d)
    d_ap, d_an = (np.asarray(t) for t in miner.triplet_distances(d, y))
    np.testing.assert_allclose(d_np[np.arange(24), pos][has_pos], d_ap[has_pos])
    np.testing.assert_allclose(d_np[np.arange(24), neg], d_an)


def test_triplet_indices_refused_for_multi_triplet_miners(batch):
    y, x = batch
    with pytest.raises(ValueError, match="several triplets per anchor"):
        M.BatchAllMiner().triplet_indices(get_distance("L2")(x), y)


def test_identical_embeddings_give_finite_zero_distance_gradients(monkeypatch):
    x = np.ones((8, 4), "float32")
    y = np.repeat(np.arange(2), 4).astype("int32")

    def loss(v):
        return ops.sum(L.batch_hard_triplet_loss(y, v, margin=0.5))

    value, grad = _value_and_grad(loss, x)
    assert value == pytest.approx(8 * 0.5, abs=1e-2) and np.isfinite(grad).all()
