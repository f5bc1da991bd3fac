"""TimeBudget and TimeCosineSchedule: stopping on the wall clock, a learning rate that follows it."""

import math

import keras
import numpy as np
import pytest

from embedding_net.callbacks import TimeBudget, TimeCosineSchedule
from embedding_net.callbacks import budget as budget_module


class FakeClock:
    """time.monotonic replacement; tests move ``now`` by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(budget_module.time, "monotonic", fake)
    return fake


def _cosine(peak, low, progress):
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * progress))


class _Recorder(keras.callbacks.Callback):
    """Per batch: the learning rate the batch trains with; each batch takes 1 s of the clock
    (listed after the schedule: the rate was set at the batch's start time)."""

    def __init__(self, clock=None):
        super().__init__()
        self.clock = clock
        self.rates = []
        self.batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.batches += 1
        if self.clock is not None:
            self.clock.now += 1.0


def _tiny_fit(callbacks, epochs=3, batches=10, learning_rate=0.1):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    x = np.random.default_rng(0).normal(size=(batches * 4, 4)).astype("float32")
    return model, model.fit(
        x, x[:, :1], batch_size=4, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False
    )


def test_schedule_warms_up_then_follows_the_budget_clock(clock):
    budget = TimeBudget(20.0, mid_epoch=True)
    schedule = TimeCosineSchedule(budget, peak=0.1, min_learning_rate=0.001, warmup_steps=4)
    recorder = _Recorder(clock)
    _tiny_fit([budget, schedule, recorder], epochs=5, batches=10)
    rates = recorder.rates
    # warmup: linear from 0.1 x peak over 4 batches
    np.testing.assert_allclose(rates[:4], [0.1 * (0.1 + 0.9 * i / 4) for i in range(4)], rtol=1e-5)
    # then cosine over the budget left when the decay began (16 s: batches 4 ... 19)
    expected = [_cosine(0.1, 0.001, (i - 4) / 16) for i in range(4, len(rates))]
    np.testing.assert_allclose(rates[4:], expected, rtol=1e-5)
    # mid_epoch: stopped after the batch that used the budget up (20 batches of 1 s)
    assert recorder.batches == 20 and budget.exhausted
    assert rates[-1] == pytest.approx(_cosine(0.1, 0.001, 15 / 16), rel=1e-5)


def test_budget_stops_at_the_epoch_end_unless_mid_epoch(clock):
    budget = TimeBudget(2.5)  # at the end of the epoch during which 2.5 s passed
    recorder = _Recorder(clock)
    _, history = _tiny_fit([budget, recorder], epochs=4, batches=10)
    assert recorder.batches == 10 and history.epoch == [0] and budget.exhausted
    budget = TimeBudget(2.5, mid_epoch=True)
    recorder = _Recorder(clock)
    _, history = _tiny_fit([budget, recorder], epochs=4, batches=10)
    assert recorder.batches == 3 and history.epoch == [0]  # epoch-end callbacks still ran


def test_budget_is_shared_by_two_fits_and_the_second_decays_over_what_is_left(clock):
    budget = TimeBudget(30.0, mid_epoch=True)
    first = TimeCosineSchedule(budget, peak=0.1)
    recorder = _Recorder(clock)
    _tiny_fit([budget, first, recorder], epochs=1, batches=10)  # 10 s of the 30
    assert not budget.exhausted
    second = TimeCosineSchedule(budget, peak=0.01)  # the fine-tuning phase's own peak
    recorder = _Recorder(clock)
    _tiny_fit([budget, second, recorder], epochs=5, batches=10)
    assert recorder.batches == 20 and budget.exhausted
    expected = [_cosine(0.01, 0.0, i / 20) for i in range(20)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-5, atol=1e-12)


def test_no_budget_left_gives_the_floor(clock):
    budget = TimeBudget(0.0, mid_epoch=True)
    schedule = TimeCosineSchedule(budget, peak=0.1, min_learning_rate=0.002)
    recorder = _Recorder(clock)
    _tiny_fit([budget, schedule, recorder], epochs=2)
    assert recorder.batches == 1 and recorder.rates == [pytest.approx(0.002)]


def test_bad_arguments_are_refused():
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="max_seconds must be >= 0"):
            TimeBudget(bad)
    budget = TimeBudget(10.0)
    with pytest.raises(TypeError, match="budget must be a TimeBudget"):
        TimeCosineSchedule(10.0, peak=0.1)
    with pytest.raises(ValueError, match="peak must be > 0"):
        TimeCosineSchedule(budget, peak=0.0)
    with pytest.raises(ValueError, match=r"min_learning_rate must be in \[0, peak\)"):
        TimeCosineSchedule(budget, peak=0.1, min_learning_rate=0.1)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        TimeCosineSchedule(budget, peak=0.1, warmup_steps=-1)
    # listed before its budget: the clock has not started
    with pytest.raises(RuntimeError, match="list its TimeBudget before it"):
        _tiny_fit([TimeCosineSchedule(budget, peak=0.1), budget], epochs=1)
