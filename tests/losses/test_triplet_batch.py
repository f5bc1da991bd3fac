"""Hermans batch-hard / batch-all triplet losses against brute-force numpy loops."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import losses as L
from embedding_net import miners as M


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def batch():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.integers(0, 4, size=16).astype("int32")
    y[0] = 7  # a singleton anchor: no triplet
    return y, x


def _dist(x, kind):
    x = x.astype(np.float64)
    if kind == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        return -(xn @ xn.T)  # similarity, as "smaller is closer"
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    return d2 if kind == "squared-L2" else np.sqrt(d2)


def _reference(y, x, margin=1.0, soft=False, mode="all", nonzero=False, distance="L2"):
    d = _dist(x, distance)
    out = []
    for a in range(len(y)):
        P = [p for p in range(len(y)) if y[p] == y[a] and p != a]
        N = [n for n in range(len(y)) if y[n] != y[a]]
        if not P or not N:
            out.append(0.0)
            continue
        if mode == "hard":
            t = np.array([max(d[a, P]) - min(d[a, N])])
        else:
            t = np.array([d[a, p] - d[a, n] for p in P for n in N])
        v = np.logaddexp(0.0, t) if soft else np.maximum(t + margin, 0.0)
        if nonzero:
            v = v[v > 0]
        out.append(v.mean() if len(v) else 0.0)
    return np.array(out)


@pytest.mark.parametrize("distance", ["L2", "squared-L2", "cosine"])
@pytest.mark.parametrize("soft", [False, True])
def test_batch_hard_and_all_bruteforce(batch, distance, soft):
    y, x = batch
    got = _np(L.batch_hard_triplet_loss(y, x, 0.3, soft, distance))
    np.testing.assert_allclose(
        got, _reference(y, x, 0.3, soft, "hard", distance=distance), rtol=1e-4, atol=1e-5
    )
    got = _np(L.batch_all_triplet_loss(y, x, 0.3, soft, distance))
    np.testing.assert_allclose(
        got, _reference(y, x, 0.3, soft, "all", distance=distance), rtol=1e-4, atol=1e-5
    )
    assert got[0] == 0.0  # singleton anchor


def test_batch_all_nonzero_and_class_reduction(batch):
    y, x = batch
    ref = _reference(y, x, 0.2, mode="all", nonzero=True)
    np.testing.assert_allclose(
        _np(L.batch_all_triplet_loss(y, x, 0.2, nonzero=True)), ref, rtol=1e-4, atol=1e-6
    )
    loss = L.BatchAllTripletLoss(margin=0.2, nonzero=True)
    np.testing.assert_allclose(float(_np(loss(y, x))), ref.mean(), rtol=1e-4)
    w = np.linspace(0, 1, len(y)).astype("float32")
    np.testing.assert_allclose(float(_np(loss(y, x, sample_weight=w))), (ref * w).mean(), rtol=1e-4)


def test_batch_hard_equals_tfa_hard_when_every_anchor_is_valid():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)).astype("float32")
    y = np.repeat(np.arange(3), 4)
    a = float(_np(L.BatchHardTripletLoss(margin=0.5)(y, x)))
    b = float(_np(L.triplet_hard_loss(y, x, margin=0.5)))
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_miner_argument_semi_hard_and_easy_positive(batch):
    y, x = batch
    d = _dist(x, "L2")
    # semi-hard miner (one negative per positive pair), fallback = farthest negative
    got = _np(L.BatchAllTripletLoss(margin=0.4, miner=M.SemiHardMiner()).call(y, x))
    ref = []
    for a in range(len(y)):
        P = [p for p in range(len(y)) if y[p] == y[a] and p != a]
        N = [n for n in range(len(y)) if y[n] != y[a]]
        terms = []
        for p in P:
            far = [d[a, n] for n in N if d[a, n] > d[a, p]]
            dn = min(far) if far else max(d[a, N])
            terms.append(max(d[a, p] - dn + 0.4, 0))
        ref.append(np.mean(terms) if terms else 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    # easy positive + hardest negative
    got = _np(
        L.BatchHardTripletLoss(margin=0.4, miner=M.EasyPositiveMiner(negatives="hardest")).call(
            y, x
        )
    )
    ref = []
    for a in range(len(y)):
        P = [p for p in range(len(y)) if y[p] == y[a] and p != a]
        N = [n for n in range(len(y)) if y[n] != y[a]]
        ref.append(max(min(d[a, P]) - min(d[a, N]) + 0.4, 0) if P else 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_distance_weighted_miner_in_loss_is_finite(batch):
    y, x = batch
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    loss = L.BatchAllTripletLoss(margin=0.2, miner=M.DistanceWeightedMiner(seed=2))
    value = float(_np(loss(y, xn)))
    assert np.isfinite(value) and value >= 0


@pytest.mark.parametrize(
    "loss",
    [
        L.BatchHardTripletLoss(margin=0.3, soft=True, distance="cosine"),
        L.BatchAllTripletLoss(margin=0.1, nonzero=True, miner=M.SemiHardMiner(margin=0.5)),
        L.BatchAllTripletLoss(distance=L.get("batch-all-triplet").get_config()["distance"]),
        L.TripletSemiHardLoss(margin=0.2, distance_metric="angular"),
        L.TripletHardLoss(margin=0.7, soft=True, distance_metric="squared-L2"),
        L.ContrastiveLoss(margin=0.5),
    ],
)
def test_serialization_round_trip(loss, batch):
    y, x = batch
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(back) is type(loss)
    assert back.get_config() == loss.get_config()
    if not isinstance(loss, L.ContrastiveLoss):
        np.testing.assert_allclose(float(_np(back(y, x))), float(_np(loss(y, x))), rtol=1e-6)


def test_get_registry():
    assert isinstance(L.get("triplet-semihard"), L.TripletSemiHardLoss)
    assert isinstance(L.get("batch_hard_triplet", margin=0.2), L.BatchHardTripletLoss)
    assert isinstance(L.get("TripletHardLoss"), L.TripletHardLoss)
    with pytest.raises(ValueError, match="triplet-semihard"):
        L.get("triplet-semisoft")
    with pytest.raises(ValueError, match="margin"):
        L.BatchHardTripletLoss(margin=-1.0)
    with pytest.raises(ValueError, match="angular"):
        L.BatchHardTripletLoss(distance="hamming")


def test_tiny_fit_decreases_loss():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 4).astype("int32")
    x = (rng.normal(size=(16, 6)) + y[:, None]).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=L.BatchHardTripletLoss(margin=0.5))
    before = float(_np(model.evaluate(x, y, batch_size=16, verbose=0)))
    model.fit(x, y, batch_size=16, epochs=15, shuffle=False, verbose=0)
    after = float(_np(model.evaluate(x, y, batch_size=16, verbose=0)))
    assert after < before
