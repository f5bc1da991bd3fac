"""RectifiedAdam against a pure-Python RAdam; schedules; optimizer construction."""

import math

import keras
import numpy as np
import pytest

from embedding_net.config import OptimizerConfig, ScheduleConfig
from embedding_net.optimizers import RectifiedAdam, build_optimizer, build_schedule


def radam_reference(gradients, w0, lr, beta_1=0.9, beta_2=0.999, eps=1e-7, threshold=5.0, wd=0.0):
    """Liu et al. 2020, Algorithm 2, on a scalar; decoupled weight decay applied first (Keras)."""
    m = v = 0.0
    w = float(w0)
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    out = []
    for t, g in enumerate(gradients, start=1):
        w -= lr * wd * w
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        m_hat = m / (1 - beta_1**t)
        rho_t = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
        if rho_t > threshold:
            v_hat = math.sqrt(v / (1 - beta_2**t))
            r = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            w -= lr * r * m_hat / (v_hat + eps)
        else:
            w -= lr * m_hat
        out.append(w)
    return out


@pytest.mark.parametrize("beta_2, wd", [(0.999, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_rectified_adam_matches_reference(beta_2, wd):
    # beta_2 = 0.9: rho_inf = 19, rho_t crosses 5 at step 6, so both branches are exercised
    gradients = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5, 0.1, -0.2, 3.0, -1.0, 0.5, 0.05]
    lr = 0.1
    variable = keras.Variable(np.float32(1.0))
    optimizer = RectifiedAdam(learning_rate=lr, beta_2=beta_2, weight_decay=wd or None)
    values = []
    for g in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(np.float32(g)), variable)])
        values.append(float(keras.ops.convert_to_numpy(variable.value)))
    expected = radam_reference(gradients, 1.0, lr, beta_2=beta_2, wd=wd)
    np.testing.assert_allclose(values, expected, rtol=2e-5, atol=2e-6)


def test_rectified_adam_differs_from_adam_early_and_round_trips():
    var_a, var_r = keras.Variable(np.float32(1.0)), keras.Variable(np.float32(1.0))
    adam, radam = keras.optimizers.Adam(0.1), RectifiedAdam(0.1)
    g = keras.ops.convert_to_tensor(np.float32(1.0))
    adam.apply_gradients([(g, var_a)])
    radam.apply_gradients([(g, var_r)])
    # step 1: Adam moves by lr * m_hat / sqrt(v_hat) = 0.1; RAdam (rho_1 < 5) by lr * m_hat = 0.1
    # both 0.1 for g = 1, so compare step 2 with a different gradient
    g2 = keras.ops.convert_to_tensor(np.float32(4.0))
    adam.apply_gradients([(g2, var_a)])
    radam.apply_gradients([(g2, var_r)])
    assert abs(float(var_a.value) - float(var_r.value)) > 1e-3
    clone = RectifiedAdam.from_config(radam.get_config())
    assert clone.sma_threshold == 5.0 and clone.beta_2 == radam.beta_2
    assert (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(radam)).__class__
        is RectifiedAdam
    )


def test_build_optimizer_kinds():
    assert isinstance(build_optimizer(OptimizerConfig(name="adam")), keras.optimizers.Adam)
    adamw = build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.05))
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)
    sgd = build_optimizer(OptimizerConfig(name="sgd", momentum=0.8, nesterov=True, clipnorm=1.0))
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.clipnorm == 1.0
    radamw = build_optimizer(OptimizerConfig(name="adamw", rectify=True, weight_decay=0.01))
    assert isinstance(radamw, RectifiedAdam) and radamw.weight_decay == pytest.approx(0.01)
    assert isinstance(build_optimizer(OptimizerConfig(name="rmsprop")), keras.optimizers.RMSprop)


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_warmup_cosine_schedule_values():
    config = ScheduleConfig(
        name="warmup_cosine", warmup_epochs=2, warmup_start=0.1, min_learning_rate=1e-4
    )
    schedule, callbacks = build_schedule(config, 1e-2, epochs=10, steps_per_epoch=5)
    assert callbacks == []
    assert _lr(schedule, 0) == pytest.approx(1e-3)  # warmup starts at 0.1 x peak
    assert _lr(schedule, 5) == pytest.approx(1e-3 + (1e-2 - 1e-3) * 5 / 10, rel=1e-5)  # linear
    assert _lr(schedule, 10) == pytest.approx(1e-2, rel=1e-5)  # peak after 2 epochs
    # cosine from the peak to the floor over the remaining 40 steps
    expected_mid = 1e-4 + (1e-2 - 1e-4) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert _lr(schedule, 30) == pytest.approx(expected_mid, rel=1e-4)
    assert _lr(schedule, 50) == pytest.approx(1e-4, rel=1e-4)


def test_step_plateau_and_constant_schedules():
    step, _ = build_schedule(ScheduleConfig(name="step", step_epochs=2, factor=0.5), 0.1, 6, 10)
    assert [_lr(step, s) for s in (0, 19, 21, 41)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    lr, callbacks = build_schedule(
        ScheduleConfig(name="reduce_on_plateau", monitor="val_rank1", patience=2), 0.1, 5, 3
    )
    assert lr == 0.1 and isinstance(callbacks[0], keras.callbacks.ReduceLROnPlateau)
    assert callbacks[0].monitor == "val_rank1" and callbacks[0].mode == "max"
    assert build_schedule(ScheduleConfig(), 0.1, 5, 3) == (0.1, [])


def test_time_span_schedules_are_a_callback_on_the_budget():
    from embedding_net.callbacks import TimeBudget, TimeCosineSchedule

    budget = TimeBudget(60)
    config = ScheduleConfig(
        name="warmup_cosine", warmup_epochs=1.5, min_learning_rate=1e-4, span="time"
    )
    lr, callbacks = build_schedule(config, 1e-2, epochs=10, steps_per_epoch=4, time_budget=budget)
    assert lr == 1e-2 and len(callbacks) == 1 and isinstance(callbacks[0], TimeCosineSchedule)
    schedule = callbacks[0]
    assert schedule.budget is budget and schedule.warmup_steps == 6
    assert schedule.peak == 1e-2 and schedule.min_learning_rate == 1e-4
    _, (plain,) = build_schedule(
        ScheduleConfig(name="cosine", span="time", warmup_epochs=3), 0.1, 5, 3, time_budget=budget
    )
    assert plain.warmup_steps == 0  # warmup_epochs belongs to warmup_cosine only
    with pytest.raises(ValueError, match="needs the run's TimeBudget"):
        build_schedule(config, 1e-2, epochs=10, steps_per_epoch=4)
    with pytest.raises(ValueError, match="needs a cosine schedule"):
        build_schedule(ScheduleConfig(name="step", span="time"), 0.1, 5, 3, time_budget=budget)


def test_registered_name_is_kept_so_saved_models_load():
    assert keras.saving.get_registered_name(RectifiedAdam) == "embedding_net>RectifiedAdam"
    assert keras.saving.get_registered_object("embedding_net>RectifiedAdam") is RectifiedAdam


def test_old_config_spellings_are_deprecated_aliases():
    import importlib
    import sys

    import embedding_net.config as config

    for name, obj in (
        ("RectifiedAdam", RectifiedAdam),
        ("build_optimizer", build_optimizer),
        ("build_schedule", build_schedule),
    ):
        with pytest.warns(DeprecationWarning, match=f"embedding_net.optimizers.{name}"):
            assert getattr(config, name) is obj
    sys.modules.pop("embedding_net.config.optimizers", None)
    with pytest.warns(DeprecationWarning, match="import RectifiedAdam"):
        old = importlib.import_module("embedding_net.config.optimizers")
    assert old.RectifiedAdam is RectifiedAdam and old.build_schedule is build_schedule


def _two_layer_step(optimizer, factor, seed=0):
    """Weights change of one train_on_batch of a 2-layer model whose first layer (the
    "backbone") is scaled by ``factor``."""
    from embedding_net.optimizers import scale_learning_rate

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="backbone"), keras.layers.Dense(1)]
    )
    scale_learning_rate(optimizer, model.layers[0].trainable_variables, factor)
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    model.train_on_batch(x, y)
    return [keras.ops.convert_to_numpy(v) - b for v, b in zip(model.trainable_variables, before)]


@pytest.mark.parametrize(
    "make", [lambda: keras.optimizers.SGD(0.1), lambda: keras.optimizers.Adam(0.01)]
)
def test_scale_learning_rate_scales_only_the_given_variables(make):
    plain = _two_layer_step(make(), 1.0)
    scaled = _two_layer_step(make(), 0.25)
    # first step: SGD and Adam updates are linear in the learning rate
    for delta_plain, delta_scaled in zip(plain[:2], scaled[:2]):  # backbone kernel, bias
        np.testing.assert_allclose(delta_scaled, 0.25 * delta_plain, rtol=1e-4, atol=1e-7)
        assert np.abs(delta_plain).max() > 0
    for delta_plain, delta_scaled in zip(plain[2:], scaled[2:]):  # the head: unchanged
        np.testing.assert_allclose(delta_scaled, delta_plain, rtol=1e-5, atol=1e-7)


def test_scale_learning_rate_errors():
    from embedding_net.optimizers import scale_learning_rate

    variable = keras.Variable(np.zeros(2, "float32"))
    for bad in (0, 1.5, -1, True, "0.1"):
        with pytest.raises(ValueError, match=r"factor must be in \(0, 1\]"):
            scale_learning_rate(keras.optimizers.SGD(), [variable], bad)
    with pytest.raises(ValueError, match="no variables to scale"):
        scale_learning_rate(keras.optimizers.SGD(), [], 0.5)
    optimizer = keras.optimizers.SGD()
    assert scale_learning_rate(optimizer, [], 1.0) is optimizer  # factor 1: nothing to do
