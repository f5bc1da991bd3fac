"""Training to a wall-clock budget: stop when it is spent, decay the learning rate over it.

``TimeBudget(max_seconds)`` stops ``fit`` once ``max_seconds`` have passed (at the end of that
epoch, or right after the batch with ``mid_epoch=True``). ``TimeCosineSchedule`` sets the
optimizer's learning rate before every batch: a linear warmup over a number of batches, then a
cosine decay whose progress is the fraction of the budget's wall clock used, so the rate
reaches its floor when the budget ends, however many batches the machine managed::

    budget = TimeBudget(900, mid_epoch=True)
    schedule = TimeCosineSchedule(budget, peak=1e-3, min_learning_rate=1e-5, warmup_steps=200)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=...)
    model.fit(ds, epochs=1000, callbacks=[budget, schedule])  # the budget ends training

A schedule fixed in epochs leaves the learning rate high when a slow machine runs out of
budget first; this one cannot.
"""

from __future__ import annotations

import logging
import math
import time

import keras

logger = logging.getLogger(__name__)

__all__ = ["TimeBudget", "TimeCosineSchedule"]


class TimeBudget(keras.callbacks.Callback):
    """Stop training once ``max_seconds`` of wall clock have passed.

    The clock starts at the first ``fit`` the callback is passed to and keeps running over
    later ones (the phases of a fine-tuning run share one budget); ``exhausted`` tells
    whether it stopped training.

    Args:
        max_seconds: the budget, >= 0 (0: stop after the first epoch, or batch).
        mid_epoch: stop right after the batch during which the budget ran out (Keras still
            ends that partial epoch: epoch-end callbacks run); default: at the end of the
            epoch.
    """

    def __init__(self, max_seconds: float, mid_epoch: bool = False):
        super().__init__()
        max_seconds = float(max_seconds)
        if not max_seconds >= 0:  # also NaN
            raise ValueError(f"max_seconds must be >= 0, got {max_seconds}")
        self.max_seconds = max_seconds
        self.mid_epoch = bool(mid_epoch)
        self._start = None
        self.exhausted = False

    @property
    def started(self) -> bool:
        return self._start is not None

    def elapsed(self) -> float:
        """Seconds since the clock started (0 before the first ``fit``)."""
        return 0.0 if self._start is None else time.monotonic() - self._start

    def remaining(self) -> float:
        """Seconds left of the budget (negative once overrun)."""
        return self.max_seconds - self.elapsed()

    def on_train_begin(self, logs=None):
        if self._start is None:
            self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.mid_epoch and self.remaining() <= 0:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.remaining() <= 0:
            logger.info("time budget of %.0f s reached in epoch %d", self.max_seconds, epoch + 1)
            self.exhausted = True
            self.model.stop_training = True


class TimeCosineSchedule(keras.callbacks.Callback):
    """Warmup over batches, then cosine decay over what is left of a :class:`TimeBudget`.

    Before each batch the optimizer's learning rate is set to
    ``peak * (start + (1 - start) * step / warmup_steps)`` during the warmup, then to
    ``min + (peak - min) * (1 + cos(pi * p)) / 2`` with ``p`` the fraction of the budget's
    remaining wall clock (at the end of the warmup) used since. The optimizer must have
    been given a float learning rate (a variable), not a ``LearningRateSchedule``.

    Each ``fit`` restarts the warmup and the decay from ``peak`` towards the budget's end
    (the second phase of a fine-tuning run gets its own peak over the remaining time).

    Args:
        budget: the :class:`TimeBudget` of the same ``fit`` (listed before this callback).
        peak: learning rate after the warmup.
        min_learning_rate: learning rate at the end of the budget (>= 0, < peak).
        warmup_steps: batches of linear warmup (0: none).
        warmup_start: learning rate at the first batch, as a fraction of ``peak``.
    """

    def __init__(
        self,
        budget: TimeBudget,
        peak: float,
        min_learning_rate: float = 0.0,
        warmup_steps: int = 0,
        warmup_start: float = 0.1,
    ):
        super().__init__()
        if not isinstance(budget, TimeBudget):
            raise TypeError(f"budget must be a TimeBudget, got {type(budget).__name__}")
        self.budget = budget
        self.peak = float(peak)
        self.min_learning_rate = float(min_learning_rate)
        if not self.peak > 0:
            raise ValueError(f"peak must be > 0, got {peak}")
        if not 0 <= self.min_learning_rate < self.peak:
            raise ValueError(f"min_learning_rate must be in [0, peak), got {min_learning_rate}")
        if int(warmup_steps) < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = int(warmup_steps)
        self.warmup_start = float(warmup_start)
        self._step = 0
        self._decay_start = None  # budget seconds when the decay began
        self._decay_end = None

    def on_train_begin(self, logs=None):
        if not self.budget.started:
            raise RuntimeError("TimeCosineSchedule: list its TimeBudget before it in callbacks")
        self._step = 0
        self._decay_start = None

    def rate(self) -> float:
        """The learning rate for the next batch."""
        if self._step < self.warmup_steps:
            fraction = self._step / self.warmup_steps
            return self.peak * (self.warmup_start + (1.0 - self.warmup_start) * fraction)
        now = self.budget.elapsed()
        if self._decay_start is None:
            self._decay_start = now
            self._decay_end = max(self.budget.max_seconds, now)
        span = self._decay_end - self._decay_start
        progress = 1.0 if span <= 0 else min(max((now - self._decay_start) / span, 0.0), 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_learning_rate + (self.peak - self.min_learning_rate) * cosine

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate()
        self._step += 1
