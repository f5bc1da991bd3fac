"""The one loss base: constructor arguments = config, ``fn`` + ``compute`` with a reference set
for every in-batch loss, tensorflow-addons' result dtype, registration."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from embedding_net import losses as L
from embedding_net.losses.base import MetricLoss
from tests.losses import modern_reference as ref

D = 5


def in_batch_losses():
    return [
        L.TripletSemiHardLoss(margin=0.3),
        L.TripletHardLoss(margin=0.4, soft=True, distance_metric="squared-L2"),
        L.BatchHardTripletLoss(margin=0.2),
        L.BatchAllTripletLoss(margin=0.2, nonzero=True),
        L.BatchAllTripletLoss(margin=0.2, miner="semi-hard"),
        L.BatchContrastiveLoss(margin=0.8),
        L.MultiSimilarityLoss(),
        L.CircleLoss(gamma=32.0),
        L.LiftedStructureLoss(),
        L.GeneralizedLiftedStructureLoss(),
        L.NTXentLoss(temperature=0.2),
        L.InfoNCELoss(temperature=0.3),
        L.NPairsLoss(),
        L.SupervisedContrastiveLoss(temperature=0.2),
    ]


def _batch(seed, n=8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, n), rng.normal(size=(n, D)).astype("float32")


def _padded(labels, x, extra, seed):
    """The reference rows plus ``extra`` empty slots (label -1, random rows, not valid)."""
    rng = np.random.default_rng(seed)
    pad_x = rng.normal(size=(extra, D)).astype("float32")
    valid = np.concatenate([np.ones(len(labels), bool), np.zeros(extra, bool)])
    return np.concatenate([labels, -np.ones(extra, int)]), np.concatenate([x, pad_x]), valid


def test_every_in_batch_loss_takes_a_reference_set():
    y, x = _batch(0)
    ry, rx = _batch(1, n=10)
    py, px, valid = _padded(ry, rx, 4, seed=2)
    for loss in in_batch_losses():
        name = type(loss).__name__
        plain = ref.to_numpy(loss.compute(y, x, ry, rx, np.ones(len(ry), bool)))
        padded = ref.to_numpy(loss.compute(y, x, ref_labels=py, ref_embeddings=px, ref_valid=valid))
        assert np.all(np.isfinite(plain)), name
        # empty slots are neither positives nor negatives: the same value
        np.testing.assert_allclose(padded, plain, rtol=1e-5, atol=1e-6, err_msg=name)
        _, grad = ref.value_and_grad(
            lambda v, loss=loss: loss.compute(y, v, ry, rx, np.ones(len(ry), bool)), x
        )
        assert np.all(np.isfinite(grad)), name
        # the batch alone: compute == call (but circle's mean over non-zero anchors) == fn
        alone = ref.to_numpy(loss.compute(y, x))
        called = ref.to_numpy(loss.call(y, x))
        if isinstance(loss, L.CircleLoss):
            called = called * np.count_nonzero(alone) / len(alone)
        np.testing.assert_allclose(alone, called, rtol=1e-6)
        params = {k: v for k, v in loss.get_config().items() if k not in ("name", "reduction")}
        params.pop("dtype")
        restored = type(loss).from_config(loss.get_config())
        np.testing.assert_allclose(
            ref.to_numpy(type(loss).fn(y, x, **restored._fn_kwargs)), alone, rtol=1e-6
        )
        assert set(params) == set(restored._fn_kwargs), name


def _semihard_numpy(y, ry, d, margin):
    """tensorflow-addons' semi-hard rule on a (batch, ref) matrix: every reference row with the
    anchor's label is a positive (no self pair)."""
    total, count = 0.0, 0
    for a in range(len(y)):
        neg = [n for n in range(len(ry)) if ry[n] != y[a]]
        for p in range(len(ry)):
            if ry[p] != y[a]:
                continue
            far = [d[a, n] for n in neg if d[a, n] > d[a, p]]
            dn = min(far) if far else (max(d[a, neg]) if neg else d[a].min())
            total += max(margin + d[a, p] - dn, 0.0)
            count += 1
    return total / count if count else 0.0


def _batch_all_numpy(y, ry, d, margin):
    out = []
    for a in range(len(y)):
        pos = [p for p in range(len(ry)) if ry[p] == y[a]]
        neg = [n for n in range(len(ry)) if ry[n] != y[a]]
        terms = [max(d[a, p] - d[a, n] + margin, 0.0) for p in pos for n in neg]
        out.append(np.mean(terms) if terms else 0.0)
    return np.array(out)


def test_triplet_losses_against_a_reference_set_match_bruteforce():
    y, x = _batch(3)
    ry, rx = _batch(4, n=11)
    d = ref.euclidean(x, rx)
    got = float(ref.to_numpy(L.triplet_semihard_loss(y, x, 0.5, ref_labels=ry, ref_embeddings=rx)))
    np.testing.assert_allclose(got, _semihard_numpy(y, ry, d, 0.5), rtol=1e-4, atol=1e-5)
    got = ref.to_numpy(L.batch_all_triplet_loss(y, x, 0.5, ref_labels=ry, ref_embeddings=rx))
    np.testing.assert_allclose(got, _batch_all_numpy(y, ry, d, 0.5), rtol=1e-4, atol=1e-5)
    hard = ref.to_numpy(L.batch_hard_triplet_loss(y, x, 0.5, ref_labels=ry, ref_embeddings=rx))
    for a in range(len(y)):
        pos, neg = d[a][ry == y[a]], d[a][ry != y[a]]
        want = max(pos.max() - neg.min() + 0.5, 0.0) if len(pos) and len(neg) else 0.0
        np.testing.assert_allclose(hard[a], want, rtol=1e-4, atol=1e-5)


def test_get_config_is_exactly_the_constructor_arguments():
    for loss in [*in_batch_losses(), L.ContrastiveLoss(margin=0.5)]:
        cls = type(loss)
        arguments = set(inspect.signature(cls.__init__).parameters) - {"self"}
        config = loss.get_config()
        assert set(config) == arguments, cls.__name__
        again = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(again) is cls and again.get_config() == config
        assert cls.fn is not None and callable(loss.fn)


def test_keras_argument_order_and_tfa_positional_order():
    assert L.MultiSimilarityLoss(2.0, 40.0, 0.5, 0.1, "cosine", None, "sum").reduction == "sum"
    assert L.BatchHardTripletLoss(0.3, False, "L2", None, False, "sum", "bh").name == "bh"
    assert L.ContrastiveLoss(0.5, "sum", "c").get_config()["reduction"] == "sum"
    semi = L.TripletSemiHardLoss(0.4, "angular", "semi")
    assert (semi.name, semi.get_config()["distance_metric"]) == ("semi", "angular")
    hard = L.TripletHardLoss(0.4, True, "squared-L2", "hard")
    assert hard.name == "hard" and hard.get_config()["soft"] is True


def test_pair_loss_takes_no_reference_set_and_base_needs_a_function():
    with pytest.raises(ValueError, match="not an in-batch loss"):
        L.ContrastiveLoss().compute([1, 0], [0.3, 0.2], ref_labels=[1], ref_embeddings=[[0.0]])
    with pytest.raises(TypeError, match="fn"):
        MetricLoss()
    with pytest.raises(ValueError, match="ref_labels"):
        L.multi_similarity_loss([0, 0], np.ones((2, 3), "float32"), ref_labels=[0])
    with pytest.raises(ValueError, match="distance_metric"):
        L.TripletSemiHardLoss(distance_metric="hamming")


def test_a_user_loss_registers_and_round_trips():
    def mean_distance_loss(labels, embeddings, scale=1.0, distance="L2", miner=None, **ref_set):
        positive = L.batch_hard_triplet_loss(labels, embeddings, 0.0, distance=distance, **ref_set)
        return scale * positive

    @L.register_loss("test-mean-distance")
    @keras.saving.register_keras_serializable(package="tests")
    class MeanDistanceLoss(MetricLoss):
        fn = staticmethod(mean_distance_loss)

        def __init__(
            self, scale=1.0, distance="L2", miner=None, reduction="sum", name=None, dtype=None
        ):
            super().__init__(reduction, name, dtype, scale=scale, distance=distance, miner=miner)

    loss = L.get("Test_Mean_Distance", scale=2.0, miner="batch-all")
    assert isinstance(loss, MeanDistanceLoss)
    assert loss.get_config()["miner"]["class_name"] == "BatchAllMiner"
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    y, x = _batch(5)
    np.testing.assert_allclose(float(back(y, x)), float(loss(y, x)), rtol=1e-6)


HALF_RTOL = {"float16": 1e-3, "bfloat16": 8e-3}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_tfa_shims_return_the_dtype_of_y_pred(dtype):
    y, x = _batch(6, n=12)
    half = keras.ops.cast(x, dtype)
    rounded = keras.ops.cast(half, "float32")  # the same inputs, in float32
    pairs_y = (y % 2).astype("float32")
    dist = np.abs(x[:, 0])
    cases = [
        (lambda v: L.triplet_semihard_loss(y, v, 0.5), half, rounded),
        (lambda v: L.triplet_hard_loss(y, v, 0.5, soft=True), half, rounded),
        (lambda v: L.TripletSemiHardLoss(0.5)(y, v), half, rounded),
        (lambda v: L.TripletHardLoss(0.5)(y, v), half, rounded),
        (
            lambda v: L.contrastive_loss(pairs_y, v),
            keras.ops.cast(dist, dtype),
            keras.ops.cast(keras.ops.cast(dist, dtype), "float32"),
        ),
        (
            lambda v: L.ContrastiveLoss()(pairs_y, v),
            keras.ops.cast(dist, dtype),
            keras.ops.cast(keras.ops.cast(dist, dtype), "float32"),
        ),
    ]
    for i, (fn, low, high) in enumerate(cases):
        out = fn(low)
        assert keras.backend.standardize_dtype(out.dtype) == dtype, i
        want = ref.to_numpy(fn(high))
        assert keras.backend.standardize_dtype(fn(high).dtype) == "float32", i
        value = ref.to_numpy(keras.ops.cast(out, "float32"))
        np.testing.assert_allclose(value, want, rtol=HALF_RTOL[dtype], err_msg=str(i))
    # an explicit loss dtype wins; the other losses stay float32, as Keras losses
    explicit = L.TripletSemiHardLoss(dtype="float32")(y, half)
    assert keras.backend.standardize_dtype(explicit.dtype) == "float32"
    other = L.BatchHardTripletLoss()(y, half)
    assert keras.backend.standardize_dtype(other.dtype) == "float32"


def test_prepare_embeddings_is_a_deprecated_alias():
    from embedding_net.losses.base import prepare_embeddings

    with pytest.warns(DeprecationWarning, match="embeddings_float32"):
        x, dtype = prepare_embeddings(np.ones((2, 3), "float16"))
    assert keras.backend.standardize_dtype(x.dtype) == "float32" and dtype == "float16"
