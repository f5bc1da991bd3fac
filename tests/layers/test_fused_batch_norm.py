"""FusedBatchNormalization against a numpy reference and against keras.layers.BatchNormalization."""

import keras
import numpy as np
import pytest

from embedding_net.layers import FusedBatchNormalization

RNG = np.random.default_rng(0)


def _pair(x_shape, **kwargs):
    """A Keras layer and ours with the same (random, non-trivial) weights."""
    keras_bn, ours = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    keras_bn.build(x_shape)
    ours.build(x_shape)
    weights = [
        RNG.uniform(0.5, 2.0, v.shape) if "variance" in v.path else RNG.normal(size=v.shape)
        for v in keras_bn.weights
    ]
    weights = [w.astype("float32") for w in weights]
    keras_bn.set_weights(weights)
    ours.set_weights(weights)
    return keras_bn, ours


def _numpy_train(x, gamma, beta, mean0, var0, momentum, eps):
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased, as Keras
    y = (x - mean) / np.sqrt(var + eps) * gamma + beta
    return y, mean0 * momentum + mean * (1 - momentum), var0 * momentum + var * (1 - momentum)


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.9, "epsilon": 1e-5}])
def test_training_step_matches_numpy(kwargs):
    x = RNG.normal(2.0, 3.0, (6, 5, 4, 3)).astype("float32")
    _, ours = _pair(x.shape, **kwargs)
    gamma, beta, mean0, var0 = [w.copy() for w in ours.get_weights()]
    y = keras.ops.convert_to_numpy(ours(x, training=True))
    ref_y, ref_mean, ref_var = _numpy_train(
        x.astype("float64"), gamma, beta, mean0, var0, ours.momentum, ours.epsilon
    )
    np.testing.assert_allclose(y, ref_y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), ref_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance.numpy(), ref_var, rtol=1e-5, atol=1e-6)
    inference = keras.ops.convert_to_numpy(ours(x, training=False))
    expected = (x - ref_mean) / np.sqrt(ref_var + ours.epsilon) * gamma + beta
    np.testing.assert_allclose(inference, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False}, {"epsilon": 1e-5}])
def test_outputs_gradients_and_statistics_match_keras(kwargs):
    tf = pytest.importorskip("tensorflow")
    x = tf.constant(RNG.normal(1.0, 2.0, (8, 6, 4, 5)).astype("float32"))
    keras_bn, ours = _pair(x.shape, **kwargs)
    grads = []
    for layer in (keras_bn, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(y))
        grads.append((y, tape.gradient(loss, [x, *layer.trainable_weights])))
    (y_k, g_k), (y_o, g_o) = grads
    np.testing.assert_allclose(y_o, y_k, atol=1e-5)
    for a, b in zip(g_o, g_k):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), keras_bn.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours(x, training=False), keras_bn(x, training=False), atol=1e-5)


def test_one_pixel_batch_of_one_and_identical_inputs():
    # n = 1: the batch variance is 0 (no Bessel correction to undo), outputs are beta
    x = np.full((1, 1, 1, 4), 3.0, dtype="float32")
    keras_bn, ours = _pair(x.shape)
    np.testing.assert_allclose(ours(x, training=True), keras_bn(x, training=True), atol=1e-5)
    np.testing.assert_allclose(ours.moving_variance.numpy(), keras_bn.moving_variance.numpy())
    same = np.ones((4, 3, 3, 4), dtype="float32")  # identical values: zero variance, finite output
    assert np.isfinite(keras.ops.convert_to_numpy(ours(same, training=True))).all()


def test_nan_propagates_like_keras():
    x = RNG.normal(size=(2, 3, 3, 2)).astype("float32")
    x[0, 0, 0, 0] = np.nan
    keras_bn, ours = _pair(x.shape)
    y_k = keras.ops.convert_to_numpy(keras_bn(x, training=True))
    y_o = keras.ops.convert_to_numpy(ours(x, training=True))
    np.testing.assert_array_equal(np.isnan(y_o), np.isnan(y_k))


@pytest.mark.parametrize(
    ("shape", "kwargs"), [((4, 7), {}), ((4, 3, 5), {}), ((3, 4, 5, 2), {"axis": 1})]
)
def test_other_inputs_take_the_keras_path(shape, kwargs):
    x = RNG.normal(size=shape).astype("float32")
    keras_bn, ours = _pair(x.shape, **kwargs)
    np.testing.assert_allclose(ours(x, training=True), keras_bn(x, training=True), atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean.numpy(), keras_bn.moving_mean.numpy(), atol=1e-6)


def test_mixed_precision_output_dtype():
    x = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    ours = FusedBatchNormalization(dtype="mixed_bfloat16")
    y = ours(keras.ops.cast(x, "bfloat16"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert ours.moving_mean.dtype == "float32"


@pytest.mark.parametrize("training", [True, False])
def test_bfloat16_inputs_match_the_float32_reference(training):
    """Under mixed_bfloat16 the kernel takes the bfloat16 activations as they are (no cast to
    float32 and back, the fast path on CPUs with AMX / AVX512-BF16); outputs, gradients and
    moving statistics still match numpy on the same bfloat16 input to bfloat16 rounding."""
    import tensorflow as tf

    x = RNG.normal(1.0, 2.0, (8, 6, 5, 4)).astype("float32")
    x16 = tf.cast(x, tf.bfloat16)
    w = RNG.normal(size=x.shape).astype("float32")  # a loss whose gradient is not zero
    _, ours = _pair(x.shape, dtype="mixed_bfloat16")
    gamma, beta, mean0, var0 = [w.copy() for w in ours.get_weights()]
    with tf.GradientTape() as tape:
        tape.watch(x16)
        y = ours(x16, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * w)
    grad = tape.gradient(loss, x16)
    assert y.dtype == tf.bfloat16 and grad.dtype == tf.bfloat16
    x64 = tf.cast(x16, tf.float64).numpy()  # the exact bfloat16 values the layer saw
    if training:
        ref_y, ref_mean, ref_var = _numpy_train(
            x64, gamma, beta, mean0, var0, ours.momentum, ours.epsilon
        )
        np.testing.assert_allclose(ours.moving_mean.numpy(), ref_mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours.moving_variance.numpy(), ref_var, rtol=1e-5, atol=1e-5)
    else:
        ref_y = (x64 - mean0) / np.sqrt(var0 + ours.epsilon) * gamma + beta
    np.testing.assert_allclose(tf.cast(y, tf.float64).numpy(), ref_y, rtol=2e-2, atol=2e-2)
    # the same layer in float32 on the same values: gradients agree to bfloat16 rounding
    _, ref = _pair(x.shape)
    ref.set_weights([gamma, beta, mean0, var0])
    x32 = tf.constant(x64.astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x32)
        loss32 = tf.reduce_sum(ref(x32, training=training) * w)
    grad32 = tape.gradient(loss32, x32).numpy()
    scale = np.abs(grad32).max()
    np.testing.assert_allclose(tf.cast(grad, tf.float32).numpy(), grad32, atol=2e-2 * scale)


def test_frozen_layer_uses_moving_statistics(tmp_path):
    x = RNG.normal(size=(4, 3, 3, 2)).astype("float32")
    keras_bn, ours = _pair(x.shape)
    keras_bn.trainable = ours.trainable = False
    before = ours.moving_mean.numpy().copy()
    np.testing.assert_allclose(ours(x, training=True), keras_bn(x, training=True), atol=1e-5)
    np.testing.assert_array_equal(ours.moving_mean.numpy(), before)


def test_saved_model_loads_as_the_same_class(tmp_path):
    inputs = keras.Input((6, 4, 3))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.8, name="bn")(inputs))
    x = RNG.normal(size=(5, 6, 4, 3)).astype("float32")
    model(x, training=True)
    model.save(tmp_path / "bn.keras")
    loaded = keras.saving.load_model(tmp_path / "bn.keras")
    layer = loaded.get_layer("bn")
    assert type(layer) is FusedBatchNormalization and layer.momentum == 0.8
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_named_backbones_use_the_fused_layer_and_keep_keras_weights_files(tmp_path):
    from embedding_net.models import build_backbone
    from embedding_net.models.backbones import load_backbone_weights, with_fused_batch_norm

    for name in ("resnet18", "mobilenet_v3_small"):
        fused, _ = build_backbone(name, (32, 32, 3))
        norms = [
            layer for layer in fused.layers if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)
        # a weights file saved from the same backbone with Keras' layer (before the fused one)
        old = with_fused_batch_norm(fused, fused=False)
        assert not any(type(layer) is FusedBatchNormalization for layer in old.layers)
        old.set_weights([w + 1.0 for w in old.get_weights()])
        path = tmp_path / f"{name}_keras_bn.weights.h5"
        old.save_weights(path)
        load_backbone_weights(fused, path)
        for a, b in zip(old.get_weights(), fused.get_weights()):
            np.testing.assert_array_equal(a, b)
        x = RNG.integers(0, 256, (2, 32, 32, 3)).astype("float32")
        np.testing.assert_allclose(
            fused.predict(x, verbose=0), old.predict(x, verbose=0), atol=1e-4
        )
        # and a file of the fused backbone into the Keras one
        fused.set_weights([w * 0.5 for w in fused.get_weights()])
        fused.save_weights(tmp_path / "fused.weights.h5")
        load_backbone_weights(old, tmp_path / "fused.weights.h5")
        for a, b in zip(old.get_weights(), fused.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_weights_file_of_another_architecture_names_the_real_mismatch(tmp_path):
    from embedding_net.models import build_backbone
    from embedding_net.models.backbones import load_backbone_weights

    small, _ = build_backbone("simple_cnn", (32, 32, 3))
    small.save_weights(tmp_path / "small.weights.h5")
    other, _ = build_backbone("resnet18", (32, 32, 3))
    with pytest.raises(ValueError):
        load_backbone_weights(other, tmp_path / "small.weights.h5")
