"""Degenerate batches: finite loss and gradients for identical embeddings, a one-class batch,
singletons, a batch without any valid triplet (0, not NaN), and float16/bfloat16 inputs under
a mixed-precision policy (computed in float32)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import losses as L
from embedding_net import miners as M


def value_and_grad(fn, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = fn(xt)
        return np.asarray(out, dtype=np.float64), np.asarray(
            tape.gradient(out, xt), dtype=np.float64
        )
    if backend == "jax":
        import jax

        out, grad = jax.value_and_grad(fn)(x)
        return np.asarray(out, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    pytest.skip(f"no gradient helper for backend {backend}")


LOSSES = {
    "semihard-L2": lambda y, x: L.triplet_semihard_loss(y, x),
    "semihard-angular": lambda y, x: L.triplet_semihard_loss(y, x, 0.2, "angular"),
    "hard-L2": lambda y, x: L.triplet_hard_loss(y, x),
    "hard-soft-squared": lambda y, x: L.triplet_hard_loss(
        y, x, soft=True, distance_metric="squared-L2"
    ),
    "batch-hard": lambda y, x: keras.ops.mean(L.batch_hard_triplet_loss(y, x)),
    "batch-hard-soft-cosine": lambda y, x: keras.ops.mean(
        L.batch_hard_triplet_loss(y, x, soft=True, distance="cosine")
    ),
    "batch-all": lambda y, x: keras.ops.mean(L.batch_all_triplet_loss(y, x, nonzero=True)),
    "batch-all-soft": lambda y, x: keras.ops.mean(L.batch_all_triplet_loss(y, x, soft=True)),
    "semi-hard-miner": lambda y, x: keras.ops.mean(L.batch_triplet_loss(y, x, miner="semi-hard")),
    "ms-miner": lambda y, x: keras.ops.mean(
        L.batch_triplet_loss(y, x, miner=M.MultiSimilarityMiner())
    ),
}

rng = np.random.default_rng(0)
BATCHES = {
    "identical": (np.array([0, 0, 1, 1, 2, 2]), np.ones((6, 4), "float32")),
    "one_class": (np.zeros(6, "int32"), rng.normal(size=(6, 4)).astype("float32")),
    "singletons": (np.arange(6), rng.normal(size=(6, 4)).astype("float32")),
    "zeros": (np.array([0, 0, 1, 1, 2, 2]), np.zeros((6, 4), "float32")),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_degenerate_batches_are_finite(name):
    for batch, (y, x) in BATCHES.items():
        value, grad = value_and_grad(lambda v, y=y: LOSSES[name](y, v), x)
        assert np.isfinite(value), (name, batch, value)
        assert np.all(np.isfinite(grad)), (name, batch)


@pytest.mark.parametrize(
    "name", ["semihard-L2", "semihard-angular", "batch-hard", "batch-all", "semi-hard-miner"]
)
def test_no_valid_triplet_gives_zero(name):
    # singletons (no positive) and one class (no negative, Hermans losses): loss 0, grad 0
    y, x = BATCHES["singletons"]
    value, grad = value_and_grad(lambda v: LOSSES[name](y, v), x)
    assert value == 0.0 and np.all(grad == 0.0)
    if name.startswith("batch") or name == "semi-hard-miner":
        y, x = BATCHES["one_class"]
        value, grad = value_and_grad(lambda v: LOSSES[name](y, v), x)
        assert value == 0.0 and np.all(grad == 0.0)


def test_one_class_tfa_values():
    # README: hard loss equals the margin (ln 2 with soft) up to ~1e-6 on a one-class batch
    y, x = BATCHES["one_class"]
    np.testing.assert_allclose(float(L.triplet_hard_loss(y, x, margin=0.7)), 0.7, atol=1e-5)
    np.testing.assert_allclose(float(L.triplet_hard_loss(y, x, soft=True)), np.log(2.0), atol=1e-5)


def test_contrastive_degenerate():
    y = np.array([1, 0, 1, 0], "float32")
    value, grad = value_and_grad(
        lambda d: keras.ops.mean(L.contrastive_loss(y, d)), np.zeros(4, "float32")
    )
    np.testing.assert_allclose(value, 0.5)  # two dissimilar pairs at distance 0: margin^2 each
    assert np.all(np.isfinite(grad))


#: relative precision of one rounding to float16 / bfloat16 (2**-11, 2**-8), with slack
HALF_RTOL = {"float16": 1e-3, "bfloat16": 8e-3}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision(dtype):
    policy = "mixed_float16" if dtype == "float16" else "mixed_bfloat16"
    r = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 3).astype("int32")
    x = r.normal(size=(12, 8)).astype("float32")
    classes = [
        L.TripletSemiHardLoss,
        L.TripletHardLoss,
        L.BatchHardTripletLoss,
        L.BatchAllTripletLoss,
    ]
    references = [
        float(keras.ops.convert_to_numpy(cls()(y, x.astype(dtype).astype("float32"))))
        for cls in classes
    ]
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        for cls, reference in zip(classes, references):
            out = cls()(y, keras.ops.cast(x, dtype))
            # tensorflow-addons' classes return the dtype of y_pred (issue #23); the others
            # float32, as Keras losses
            tfa = cls in (L.TripletSemiHardLoss, L.TripletHardLoss)
            assert keras.backend.standardize_dtype(out.dtype) == (dtype if tfa else "float32")
            rtol = HALF_RTOL[dtype] if tfa else 1e-5
            value = float(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")))
            np.testing.assert_allclose(value, reference, rtol=rtol)
        # a mixed-precision model trains with it: finite loss, float32 weights updated
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
        model.compile(optimizer="sgd", loss=L.TripletSemiHardLoss())
        kernel_before = keras.ops.convert_to_numpy(model.layers[0].kernel).copy()
        history = model.fit(x, y, batch_size=12, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert not np.allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), kernel_before)
    finally:
        keras.config.set_dtype_policy(previous)
