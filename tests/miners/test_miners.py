"""Miners against brute-force numpy loops, compiled under XLA / jax.jit, serialised."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import distances as D
from embedding_net import miners as M


def _np(x):
    return keras.ops.convert_to_numpy(x)


def compiled(fn):
    """``fn`` compiled with XLA (tensorflow) or ``jax.jit``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiler for backend {backend}")


@pytest.fixture
def batch():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(14, 6)).astype("float32")
    y = rng.integers(0, 4, size=14).astype("int32")
    y[-1] = 9  # one singleton anchor
    return y, x


def _np_dist(x):
    return np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))


def _masks(y):
    same = y[:, None] == y[None, :]
    return same & ~np.eye(len(y), dtype=bool), ~same


def test_label_masks_and_labels_to_int():
    pos, neg = M.label_masks(np.array([1.0, 1.0, 2.0], "float32"))
    np.testing.assert_array_equal(_np(pos), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(_np(neg), [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    # float32 holds integers exactly up to 2**24
    assert int(_np(M.labels_to_int(np.array([2.0**24], "float32")))[0]) == 2**24


def test_batch_hard_miner(batch):
    y, x = batch
    res = M.BatchHardMiner()(y, x)
    d = _np(D.pairwise_distance(x))
    pos, neg = _masks(y)
    for a in range(len(y)):
        row_p, row_n = _np(res.positive)[a], _np(res.negative)[a]
        if pos[a].any():
            assert row_p.sum() == 1 and row_p[np.argmax(np.where(pos[a], d[a], -np.inf))] == 1
        else:
            assert row_p.sum() == 0
        assert row_n.sum() == 1 and row_n[np.argmin(np.where(neg[a], d[a], np.inf))] == 1
    assert res.negative_index is None


def test_batch_all_and_easy_positive(batch):
    y, x = batch
    pos, neg = _masks(y)
    res = M.BatchAllMiner()(y, x)
    np.testing.assert_array_equal(_np(res.positive), pos)
    np.testing.assert_array_equal(_np(res.negative), neg)
    d = _np_dist(x)
    res = M.EasyPositiveMiner(negatives="hardest")(y, x)
    for a in range(len(y)):
        if pos[a].any():
            assert _np(res.positive)[a, np.argmin(np.where(pos[a], d[a], np.inf))] == 1
        assert _np(res.negative)[a, np.argmin(np.where(neg[a], d[a], np.inf))] == 1
    np.testing.assert_array_equal(_np(M.EasyPositiveMiner()(y, x).negative), neg)


@pytest.mark.parametrize("margin", [None, 0.5])
def test_semi_hard_miner_bruteforce(batch, margin):
    for fallback in ("easiest", "hardest", None):
        _check_semi_hard(batch, margin, fallback)


def _check_semi_hard(batch, margin, fallback):
    y, x = batch
    res = M.SemiHardMiner(margin=margin, fallback=fallback)(y, x)
    d = _np(D.pairwise_distance(x))
    pos, neg = _masks(y)
    kept, idx = _np(res.positive), _np(res.negative_index)
    for a in range(len(y)):
        for p in range(len(y)):
            if not pos[a, p]:
                assert kept[a, p] == 0
                continue
            cands = [n for n in range(len(y)) if neg[a, n] and d[a, n] > d[a, p]]
            if margin is not None:
                cands = [n for n in cands if d[a, n] < d[a, p] + margin]
            if cands:
                best = min(cands, key=lambda n: d[a, n])
                assert kept[a, p] == 1 and d[a, idx[a, p]] == d[a, best]
            elif fallback is None:
                assert kept[a, p] == 0
            else:
                negs = np.where(neg[a], d[a], np.nan)
                want = np.nanmax(negs) if fallback == "easiest" else np.nanmin(negs)
                assert kept[a, p] == 1 and d[a, idx[a, p]] == want


def test_semi_hard_ties_are_not_farther():
    # anchor 0: positive 1 and negative 2 at exactly the same distance; negative 3 farther
    x = np.array([[0, 0], [1, 0], [0, 1], [0, 2]], "float32")
    y = np.array([0, 0, 1, 2])
    res = M.SemiHardMiner()(y, x)
    assert int(_np(res.negative_index)[0, 1]) == 3


def test_multi_similarity_miner_bruteforce(batch):
    y, x = batch
    eps = 0.1
    res = M.MultiSimilarityMiner(epsilon=eps)(y, x)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = xn @ xn.T
    pos, neg = _masks(y)
    for a in range(len(y)):
        for j in range(len(y)):
            want_p = pos[a, j] and neg[a].any() and s[a, j] - eps < s[a][neg[a]].max()
            want_n = neg[a, j] and pos[a].any() and s[a, j] + eps > s[a][pos[a]].min()
            assert bool(_np(res.positive)[a, j]) == bool(want_p)
            assert bool(_np(res.negative)[a, j]) == bool(want_n)
    # the same rule on a distance: keep d_ap + eps > min_n d_an
    res_d = M.MultiSimilarityMiner(epsilon=eps, distance="L2")(y, x)
    d = _np_dist(x)
    for a in range(len(y)):
        if neg[a].any():
            want = pos[a] & (d[a] + eps > d[a][neg[a]].min())
            np.testing.assert_array_equal(_np(res_d.positive)[a].astype(bool), want)


def test_distance_weighted_miner_seeded(batch):
    y, x = batch
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    a = M.DistanceWeightedMiner(num_negatives=3, seed=7)(y, xn)
    b = M.DistanceWeightedMiner(num_negatives=3, seed=7)(y, xn)
    np.testing.assert_array_equal(_np(a.negative), _np(b.negative))
    _, neg = _masks(y)
    counts = _np(a.negative)
    assert np.all(counts[~neg] == 0)
    np.testing.assert_array_equal(counts.sum(1), 3 * neg.any(1))
    # weights: only negatives closer than the non-zero-loss cutoff, inverse-density formula
    miner = M.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)
    log_w = _np(miner.sampling_log_weights(D.pairwise_distance(xn), y, dim=6))
    d = _np_dist(xn)
    dc = np.maximum(d, 0.5)
    ref = (2 - 6) * np.log(dc) - 1.5 * np.log(np.maximum(1 - dc**2 / 4, 1e-8))
    for r in range(len(y)):
        allowed = neg[r] & (d[r] < 1.4)
        if allowed.any():
            assert np.all(np.isneginf(log_w[r][~allowed]))
            got = log_w[r][allowed]
            np.testing.assert_allclose(
                got - got.max(), ref[r][allowed] - ref[r][allowed].max(), atol=1e-4
            )
    with pytest.raises(ValueError, match="similarity"):
        miner.mine(D.cosine_similarity(xn), y, is_inverted=True, dim=6)


def test_get_miner_registry_and_errors():
    for name in M.available_miners():
        assert isinstance(M.get_miner(name), M.Miner)
    assert isinstance(M.get_miner("batch_hard"), M.BatchHardMiner)
    assert M.get_miner(None) is None
    with pytest.raises(ValueError, match="batch-hard"):
        M.get_miner("hardest-ever")
    with pytest.raises(ValueError, match="fallback"):
        M.SemiHardMiner(fallback="random")


@pytest.mark.parametrize(
    "miner",
    [
        M.BatchHardMiner(distance="squared-L2"),
        M.BatchAllMiner(),
        M.SemiHardMiner(margin=0.3, fallback=None, distance="angular"),
        M.EasyPositiveMiner(negatives="hardest"),
        M.DistanceWeightedMiner(cutoff=0.4, num_negatives=2, seed=3),
        M.MultiSimilarityMiner(epsilon=0.2, distance="cosine"),
    ],
)
def test_miner_serialization_round_trip(miner):
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(miner))
    assert type(back) is type(miner) and back.get_config() == miner.get_config()
    assert (
        M.get_miner(keras.saving.serialize_keras_object(miner)).get_config() == miner.get_config()
    )


def test_miners_compile(batch):
    y, x = batch
    for name in ("batch-hard", "batch-all", "semi-hard", "easy-positive", "multi-similarity"):
        miner = M.get_miner(name)
        eager = miner(y, x)
        out = compiled(lambda yy, xx, m=miner: tuple(t for t in m(yy, xx) if t is not None))(y, x)
        expected = [t for t in eager if t is not None]
        assert len(out) == len(expected), name
        for got, want in zip(out, expected):
            np.testing.assert_array_equal(_np(got), _np(want), err_msg=name)


def test_distance_weighted_compiles_with_explicit_seed(batch):
    y, x = batch
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    miner = M.DistanceWeightedMiner(seed=1)
    fn = compiled(lambda yy, xx: miner.mine(D.pairwise_distance(xx), yy, seed=5, dim=6).negative)
    counts = _np(fn(y, xn))
    _, neg = _masks(y)
    assert np.all(counts[~neg] == 0) and np.all(counts.sum(1) == neg.any(1))


def test_row_cumsum_and_count_less_equal_bruteforce():
    rng = np.random.default_rng(2)
    for n in (5, 32, 33, 100):
        ints = rng.integers(0, 3, size=(3, n)).astype("int32")
        np.testing.assert_array_equal(_np(M.row_cumsum(ints)), np.cumsum(ints, 1))
        floats = rng.normal(size=(3, n)).astype("float32")
        np.testing.assert_allclose(_np(M.row_cumsum(floats)), np.cumsum(floats, 1), atol=1e-4)
    values = np.round(rng.uniform(size=(4, 9)), 1).astype("float32")  # many ties
    mask = rng.uniform(size=(4, 9)) < 0.6
    queries = np.round(rng.uniform(size=(4, 7)), 1).astype("float32")
    counts, order = M.count_less_equal(values, mask, queries)
    want = ((values[:, None, :] <= queries[:, :, None]) & mask[:, None, :]).sum(-1)
    np.testing.assert_array_equal(_np(counts), want)
    sorted_masked = np.take_along_axis(np.where(mask, values, np.inf), _np(order), axis=1)
    assert np.all(sorted_masked[:, 1:] >= sorted_masked[:, :-1])


def test_one_contract_keyword_arguments_and_reference_rows(batch):
    y, x = batch
    rng = np.random.default_rng(8)
    ry = rng.integers(0, 4, size=9).astype("int32")
    rx = rng.normal(size=(9, 6)).astype("float32")
    valid = np.ones(9, bool)
    valid[[2, 5]] = False  # empty memory slots
    d = _np(D.euclidean_distance_matrix(x, rx))
    same = y[:, None] == ry[None, :]
    pos, neg = same & valid, ~same & valid
    for name in M.available_miners():
        miner = M.get_miner(name)
        res = miner.mine(
            D.euclidean_distance_matrix(x, rx), y, embeddings=x, ref_labels=ry, ref_valid=valid
        )
        for mask, allowed in ((res.positive, pos), (res.negative, neg)):
            assert _np(mask).shape == (len(y), len(ry)), name
            assert np.all(_np(mask)[~allowed] == 0), name  # never an invalid or wrong pair
        with pytest.raises(TypeError):
            miner.mine(D.pairwise_distance(x), y, False)  # is_inverted is keyword-only
    hard = M.BatchHardMiner().mine(d, y, ref_labels=ry, ref_valid=valid)
    for a in range(len(y)):
        if pos[a].any():
            assert _np(hard.positive)[a, np.argmax(np.where(pos[a], d[a], -np.inf))] == 1
        assert _np(hard.negative)[a, np.argmin(np.where(neg[a], d[a], np.inf))] == 1


def test_one_triplet_per_anchor_flag():
    assert M.BatchHardMiner().one_triplet_per_anchor
    assert M.EasyPositiveMiner(negatives="hardest").one_triplet_per_anchor
    assert not M.EasyPositiveMiner().one_triplet_per_anchor
    assert not M.BatchAllMiner().one_triplet_per_anchor
    assert not M.SemiHardMiner().one_triplet_per_anchor


def test_distance_weighted_reads_the_dimension_from_embeddings(batch):
    y, x = batch
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = D.pairwise_distance(xn)
    a = M.DistanceWeightedMiner(seed=4).mine(d, y, embeddings=xn)
    b = M.DistanceWeightedMiner(seed=4).mine(d, y, dim=6)
    np.testing.assert_array_equal(_np(a.negative), _np(b.negative))
    c = M.DistanceWeightedMiner(seed=4)(y, xn)  # calling on embeddings: same samples
    np.testing.assert_array_equal(_np(c.negative), _np(a.negative))
    with pytest.raises(ValueError, match="embeddings"):
        M.DistanceWeightedMiner().mine(d, y)


def test_pair_masks_with_a_reference():
    pos, neg = M.pair_masks(
        np.array([0.0, 1.0], "float32"), np.array([0, 1, 1]), np.array([True, True, False])
    )
    np.testing.assert_array_equal(_np(pos), [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(_np(neg), [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(_np(M.pair_masks([3, 3])[0]), [[0, 1], [1, 0]])


def test_triplet_distances_of_single_triplet_miners(batch):
    y, x = batch
    d = _np(D.pairwise_distance(x))
    pos, neg = _masks(y)
    hp, hn = M.BatchHardMiner().triplet_distances(D.pairwise_distance(x), y)
    # the base implementation (from the one-hot rows of mine()) gives the same numbers
    base_hp, base_hn = M.Miner.triplet_distances(M.BatchHardMiner(), D.pairwise_distance(x), y)
    np.testing.assert_allclose(_np(hp), _np(base_hp), rtol=1e-6)
    np.testing.assert_allclose(_np(hn), _np(base_hn), rtol=1e-6)
    ep, en = M.EasyPositiveMiner(negatives="hardest").triplet_distances(D.pairwise_distance(x), y)
    for a in range(len(y)):
        if pos[a].any():
            np.testing.assert_allclose(_np(hp)[a], d[a][pos[a]].max(), rtol=1e-5)
            np.testing.assert_allclose(_np(ep)[a], d[a][pos[a]].min(), rtol=1e-5)
        else:  # the singleton: no positive
            assert _np(hp)[a] == -np.inf and _np(ep)[a] == -np.inf
        np.testing.assert_allclose(_np(hn)[a], d[a][neg[a]].min(), rtol=1e-5)
        np.testing.assert_allclose(_np(en)[a], d[a][neg[a]].min(), rtol=1e-5)
    with pytest.raises(ValueError, match="one_triplet_per_anchor"):
        M.BatchAllMiner().triplet_distances(D.pairwise_distance(x), y)
