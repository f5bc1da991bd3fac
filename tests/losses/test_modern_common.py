"""Cross-cutting checks for every loss of the modern family: finite values and gradients on
degenerate batches, float16/bfloat16 inputs computed in float32, and serialization."""

import keras
import numpy as np
import pytest

from embedding_net import losses as L
from embedding_net.distances import SquaredEuclideanDistance
from tests.losses import modern_reference as ref

D = 4
_RNG = np.random.default_rng(42)
W6 = _RNG.normal(size=(6, D)).astype("float32")  # one row per class (labels < 6)
W18 = _RNG.normal(size=(18, D)).astype("float32")  # three rows per class

FUNCTIONS = {
    "multi_similarity": lambda y, x: L.multi_similarity_loss(y, x),
    "multi_similarity_l2": lambda y, x: L.multi_similarity_loss(y, x, distance="L2", epsilon=None),
    "circle": lambda y, x: L.circle_loss(y, x),
    "lifted": lambda y, x: L.lifted_structure_loss(y, x),
    "generalized_lifted": lambda y, x: L.generalized_lifted_structure_loss(y, x),
    "ntxent": lambda y, x: L.ntxent_loss(y, x),
    "npairs": lambda y, x: L.npairs_loss(y, x),
    "supcon": lambda y, x: L.supervised_contrastive_loss(y, x),
    "identity": lambda y, x: L.identity_cross_entropy(y, x),
    "arcface": lambda y, x: L.arcface_loss(y, x, W6),
    "sub_center_arcface": lambda y, x: L.arcface_loss(y, x, W18, num_centers=3),
    "cosface": lambda y, x: L.cosface_loss(y, x, W6),
    "proxy_anchor": lambda y, x: L.proxy_anchor_loss(y, x, W6),
    "proxy_nca": lambda y, x: L.proxy_nca_loss(y, x, W6),
    "softtriple": lambda y, x: L.softtriple_loss(y, x, W18, num_centers=3),
    "center": lambda y, x: L.center_loss(y, x, W6),
}


def _degenerate(kind):
    rng = np.random.default_rng(0)
    if kind == "identical":
        return np.array([0, 0, 1, 1, 2, 2]), np.tile([[1.0, -2.0, 0.5, 3.0]], (6, 1))
    if kind == "zeros":
        return np.array([0, 0, 1, 1, 2, 2]), np.zeros((6, D))
    if kind == "one_class":
        return np.zeros(6, int), rng.normal(size=(6, D))
    if kind == "singletons":
        return np.arange(6), rng.normal(size=(6, D))
    if kind == "pair_of_duplicates":  # identical rows across two classes
        x = rng.normal(size=(6, D))
        x[3] = x[0]
        return np.array([0, 0, 1, 1, 2, 2]), x
    raise AssertionError(kind)


# loops inside the tests (not parametrize): the suite's autouse keras.clear_session() costs
# about a second per test on the tensorflow backend
KINDS = ["identical", "zeros", "one_class", "singletons", "pair_of_duplicates"]


_GRADIENTS = {}  # name -> compiled value-and-gradient, shared by the parametrized cases


@pytest.mark.parametrize("kind", KINDS)
def test_finite_loss_and_gradient_on_degenerate_batches(kind):
    labels, x = _degenerate(kind)
    x = x.astype("float32")
    for name, fn in sorted(FUNCTIONS.items()):
        if name not in _GRADIENTS:
            _GRADIENTS[name] = ref.labelled_value_and_grad(fn)
        value, grad = _GRADIENTS[name](labels, x)
        assert np.all(np.isfinite(value)), (name, kind, value)
        assert np.all(np.isfinite(grad)), (name, kind, grad)


def test_batch_without_any_positive_pair_is_zero():
    labels, x = _degenerate("singletons")
    # with mining, multi-similarity keeps no negative for an anchor without positive
    for name in ("multi_similarity", "circle", "lifted", "generalized_lifted", "ntxent", "supcon"):
        value = ref.to_numpy(FUNCTIONS[name](labels, x.astype("float32")))
        assert np.all(value == 0.0), (name, value)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_inputs_are_computed_in_float32(dtype):
    rng = np.random.default_rng(1)
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    x = keras.ops.cast(rng.normal(size=(8, D)).astype("float32"), dtype)
    for name, fn in sorted(FUNCTIONS.items()):
        value = fn(labels, x)
        assert keras.backend.standardize_dtype(value.dtype) == "float32", name
        same_in_float32 = fn(labels, keras.ops.cast(x, "float32"))
        np.testing.assert_allclose(
            ref.to_numpy(value), ref.to_numpy(same_in_float32), rtol=1e-6, err_msg=name
        )
        assert np.all(np.isfinite(ref.to_numpy(value))), name


def _classes():
    return [
        L.MultiSimilarityLoss(alpha=3.0, epsilon=None, distance="L2"),
        L.MultiSimilarityLoss(miner="multi-similarity"),
        L.CircleLoss(gamma=32.0, margin=0.3, reduction="sum"),
        L.LiftedStructureLoss(pos_margin=0.1, neg_margin=0.9),
        L.GeneralizedLiftedStructureLoss(distance=SquaredEuclideanDistance()),
        L.NTXentLoss(temperature=0.2),
        L.InfoNCELoss(temperature=0.3),
        L.NPairsLoss(l2_reg=0.01),
        L.SupervisedContrastiveLoss(temperature=0.2, base_temperature=0.2),
        L.IdentityCrossEntropy(label_smoothing=0.05),
        L.IdentitySoftmaxLoss(5, D, label_smoothing=0.2, scale=8.0),
        L.ArcFaceLoss(5, D, margin=0.3, scale=30.0),
        L.SubCenterArcFaceLoss(5, D, num_centers=2),
        L.CosFaceLoss(5, D, margin=0.2),
        L.ProxyAnchorLoss(5, D, alpha=16.0),
        L.ProxyNCALoss(5, D, scale=3.0),
        L.SoftTripleLoss(5, D, num_centers=2, gamma=0.2),
        L.CenterLoss(5, D, initializer="random_normal"),
        L.XBMLoss(L.CircleLoss(), memory_size=16, embedding_dim=D, memory_weight=0.5),
    ]


def test_serialization_round_trip():
    for loss in _classes():
        _check_round_trip(loss)


def _check_round_trip(loss):
    config = loss.get_config()
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == config
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert again.get_config() == config
    if isinstance(loss, L.ParametricLoss):
        restored.layer.set_weights(loss.layer.get_weights())
    rng = np.random.default_rng(2)
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3], "float32")
    x = rng.normal(size=(8, D)).astype("float32")
    np.testing.assert_allclose(float(restored(labels, x)), float(loss(labels, x)), rtol=1e-6)


def test_registry_names_resolve():
    assert isinstance(L.get("multi-similarity"), L.MultiSimilarityLoss)
    assert isinstance(L.get("arcface", num_classes=3, embedding_dim=2), L.ArcFaceLoss)
    assert isinstance(L.get("ProxyNCALoss", num_classes=3), L.ProxyNCALoss)


def test_mixed_precision_policy_gives_float32_loss():
    rng = np.random.default_rng(3)
    labels = np.array([0, 0, 1, 1], "float32")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        x16 = keras.ops.cast(rng.normal(size=(4, D)), "float16")
        for loss in (L.MultiSimilarityLoss(), L.SupervisedContrastiveLoss(), L.ArcFaceLoss(3, D)):
            value = loss(labels, x16)
            assert keras.backend.standardize_dtype(value.dtype) == "float32"
            assert np.isfinite(float(value))
    finally:
        keras.config.set_dtype_policy(previous)


def test_compiles_under_xla_with_a_dynamic_batch():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("jax.jit compilation is exercised by the degenerate-batch gradient test")
    import tensorflow as tf

    labels = np.array([0, 0, 1, 1, 2, 2])
    x = np.random.default_rng(4).normal(size=(6, D)).astype("float32")
    signature = [tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, D], tf.float32)]
    for name, fn in sorted(FUNCTIONS.items()):
        compiled = tf.function(fn, input_signature=signature, jit_compile=True)
        got = compiled(tf.constant(labels), tf.constant(x)).numpy()
        np.testing.assert_allclose(
            got, ref.to_numpy(fn(labels, x)), rtol=1e-4, atol=1e-5, err_msg=name
        )


def test_miner_argument_restricts_pairs():
    from embedding_net.miners import BatchAllMiner, BatchHardMiner

    rng = np.random.default_rng(5)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    x = rng.normal(size=(8, D)).astype("float32")
    with_miner = {
        "multi_similarity": lambda m: L.multi_similarity_loss(labels, x, epsilon=None, miner=m),
        "circle": lambda m: L.circle_loss(labels, x, miner=m),
        "lifted": lambda m: L.lifted_structure_loss(labels, x, miner=m),
        "generalized_lifted": lambda m: L.generalized_lifted_structure_loss(labels, x, miner=m),
        "ntxent": lambda m: L.ntxent_loss(labels, x, miner=m),
    }
    for name, fn in with_miner.items():
        everything = ref.to_numpy(fn(None))
        # batch-all keeps every valid pair: same value as no miner
        np.testing.assert_allclose(
            ref.to_numpy(fn(BatchAllMiner())), everything, rtol=1e-6, err_msg=name
        )
        # batch-hard keeps one positive and one negative per anchor: a different value
        assert not np.allclose(ref.to_numpy(fn(BatchHardMiner())), everything), name
