"""Optimizers and learning-rate schedules from a config: Adam/AdamW (optionally RAdam-rectified),
SGD, RMSprop; constant, cosine, warmup-cosine, step and ReduceLROnPlateau.

:class:`RectifiedAdam` is written with ``keras.ops`` only, so it runs on every Keras backend.
It is registered with Keras as ``embedding_net>RectifiedAdam``: a model saved with it loads
again once this module is imported (:func:`embedding_net.load_model` does that)::

    from embedding_net.optimizers import RectifiedAdam, build_optimizer

    model.compile(optimizer=RectifiedAdam(1e-3, weight_decay=1e-4), loss=...)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
from keras import ops

from embedding_net.callbacks import monitored

if TYPE_CHECKING:  # the config only describes; this module never imports it at run time
    from embedding_net.config.schema import OptimizerConfig, ScheduleConfig


@keras.saving.register_keras_serializable(package="embedding_net")
class RectifiedAdam(keras.optimizers.Adam):
    """Adam with the variance rectification of RAdam (Liu et al. 2020, arXiv:1908.03265).

    With ``rho_inf = 2 / (1 - beta_2) - 1`` and, at step ``t``,
    ``rho_t = rho_inf - 2 t beta_2^t / (1 - beta_2^t)``::

        m_t = beta_1 m + (1 - beta_1) g          m_hat = m_t / (1 - beta_1^t)
        v_t = beta_2 v + (1 - beta_2) g^2        v_hat = sqrt(v_t / (1 - beta_2^t))
        if rho_t > sma_threshold:
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            w -= lr * r_t * m_hat / (v_hat + epsilon)
        else:
            w -= lr * m_hat                       # SGD with momentum while the variance is unreliable

    ``weight_decay`` > 0 gives decoupled weight decay (the rectified AdamW). The threshold
    defaults to 5, as in tensorflow-addons' ``RectifiedAdam`` (the paper uses 4).

    Args:
        learning_rate: float or a ``keras.optimizers.schedules.LearningRateSchedule``.
        beta_1, beta_2, epsilon: Adam's moment decay rates and denominator offset.
        sma_threshold: ``rho_t`` above which the adaptive (rectified) step is used.
        **kwargs: ``keras.optimizers.Optimizer`` arguments (``weight_decay``, ``clipnorm``, ...).
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        sma_threshold: float = 5.0,
        name: str = "rectified_adam",
        **kwargs,
    ):
        kwargs.pop("amsgrad", None)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=False,
            name=name,
            **kwargs,
        )
        if not 0.0 < beta_2 < 1.0:
            raise ValueError(f"beta_2 must be in (0, 1), got {beta_2}")
        self.sma_threshold = float(sma_threshold)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        # 1 - beta^t as -expm1(t log beta): no cancellation in float32 for beta_2 near 1,
        # where rho_t - 4 is small and r_t would amplify the rounding error
        one_minus_b1t = -ops.expm1(step * math.log(self.beta_1))
        one_minus_b2t = -ops.expm1(step * math.log(self.beta_2))
        beta_2_power = 1.0 - one_minus_b2t
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - beta_2))

        rho_inf = 2.0 / (1.0 - self.beta_2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta_2_power / one_minus_b2t
        m_hat = m / one_minus_b1t
        v_hat = ops.sqrt(v / one_minus_b2t)
        # clamp inside the sqrt: the unused branch of `where` must stay finite
        r_num = ops.maximum((rho_t - 4.0) * (rho_t - 2.0) * rho_inf, 0.0)
        r_den = (rho_inf - 4.0) * (rho_inf - 2.0) * ops.maximum(rho_t, 1e-6)
        r_t = ops.sqrt(r_num / r_den)
        adaptive = r_t * m_hat / (v_hat + self.epsilon)
        update = ops.where(rho_t > self.sma_threshold, adaptive, m_hat)
        self.assign_sub(variable, lr * update)

    def get_config(self):
        config = super().get_config()
        config.pop("amsgrad", None)
        config["sma_threshold"] = self.sma_threshold
        return config


def build_schedule(
    config: ScheduleConfig,
    learning_rate: float,
    epochs: int,
    steps_per_epoch: int,
    time_budget=None,
):
    """The learning rate (a float or a Keras schedule) plus the callbacks the schedule needs.

    Args:
        config: the schedule section.
        learning_rate: the optimizer's (peak) learning rate.
        epochs: training epochs.
        steps_per_epoch: batches per epoch (schedules count optimizer steps).
        time_budget: the run's :class:`~embedding_net.callbacks.TimeBudget`, which
            ``span: time`` decays over (a :class:`~embedding_net.callbacks.TimeCosineSchedule`
            callback sets the rate before each batch).

    Returns:
        ``(learning_rate_or_schedule, callbacks)``.
    """
    total = max(1, epochs * steps_per_epoch)
    if config.span == "time":
        return _time_schedule(config, learning_rate, steps_per_epoch, time_budget)
    if config.name == "constant":
        return learning_rate, []
    if config.name == "cosine":
        return (
            keras.optimizers.schedules.CosineDecay(
                learning_rate, decay_steps=total, alpha=config.min_learning_rate / learning_rate
            ),
            [],
        )
    if config.name == "warmup_cosine":
        warmup = int(round(config.warmup_epochs * steps_per_epoch))
        warmup = min(warmup, total - 1)
        return (
            keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=learning_rate * config.warmup_start
                if warmup
                else learning_rate,
                decay_steps=max(1, total - warmup),
                alpha=config.min_learning_rate / learning_rate,
                warmup_target=learning_rate if warmup else None,
                warmup_steps=warmup,
            ),
            [],
        )
    if config.name == "step":
        boundaries = [
            e * steps_per_epoch for e in range(config.step_epochs, epochs, config.step_epochs)
        ]
        if not boundaries:
            return learning_rate, []
        values = [learning_rate * config.factor**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), []
    if config.name == "reduce_on_plateau":
        mode = config.mode
        if mode == "auto":
            mode = "min" if "loss" in config.monitor else "max"
        callback = monitored.ReduceLROnPlateau(
            monitor=config.monitor,
            factor=config.factor,
            patience=config.patience,
            mode=mode,
            min_lr=config.min_learning_rate,
            verbose=0,
        )
        return learning_rate, [callback]
    raise ValueError(f"schedule.name={config.name!r} is not a known schedule")  # pragma: no cover


def _time_schedule(config: ScheduleConfig, learning_rate: float, steps_per_epoch: int, time_budget):
    """``span: time``: the learning rate stays a float; a TimeCosineSchedule callback sets it
    before every batch from the budget's clock."""
    from embedding_net.callbacks.budget import TimeCosineSchedule

    if config.name not in ("cosine", "warmup_cosine"):
        raise ValueError(f"schedule.span 'time' needs a cosine schedule, not {config.name!r}")
    if time_budget is None:
        raise ValueError("schedule.span 'time' needs the run's TimeBudget (max_seconds)")
    warmup = 0
    if config.name == "warmup_cosine":
        warmup = int(round(config.warmup_epochs * steps_per_epoch))
    callback = TimeCosineSchedule(
        time_budget,
        peak=learning_rate,
        min_learning_rate=config.min_learning_rate,
        warmup_steps=warmup,
        warmup_start=config.warmup_start,
    )
    return learning_rate, [callback]


def build_optimizer(config: OptimizerConfig, learning_rate=None) -> keras.optimizers.Optimizer:
    """A Keras optimizer from the optimizer section.

    Args:
        config: the optimizer section.
        learning_rate: overrides ``config.learning_rate`` (e.g. a schedule from
            :func:`build_schedule`).

    Returns:
        ``keras.optimizers.Optimizer``: Adam, AdamW, :class:`RectifiedAdam` (``rectify``),
        SGD or RMSprop.
    """
    lr = config.learning_rate if learning_rate is None else learning_rate
    common = {"learning_rate": lr}
    if config.clipnorm is not None:
        common["clipnorm"] = config.clipnorm
    if config.weight_decay:
        common["weight_decay"] = config.weight_decay
    if config.name in ("adam", "adamw"):
        adam = {"beta_1": config.beta_1, "beta_2": config.beta_2, "epsilon": config.epsilon}
        if config.rectify:
            return RectifiedAdam(**common, **adam)
        if config.name == "adamw":
            common.setdefault("weight_decay", 0.0)
            return keras.optimizers.AdamW(**common, **adam)
        return keras.optimizers.Adam(**common, **adam)
    if config.name == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum, nesterov=config.nesterov, **common)
    if config.name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=config.momentum, **common)
    raise ValueError(f"optimizer.name={config.name!r} is not a known optimizer")  # pragma: no cover


def scale_learning_rate(optimizer: keras.optimizers.Optimizer, variables, factor: float):
    """Train ``variables`` at ``factor`` x the optimizer's learning rate (the others at 1 x):
    a lower learning rate for a pretrained backbone than for its new head.

    Keras 3 has no per-variable learning rate; this wraps the optimizer's public
    ``update_step(gradient, variable, learning_rate)`` (the method every Keras optimizer
    applies per variable) on this instance, so schedules, clipping, the optimizer state and
    its saving are unchanged. The variables are matched by identity, so the factor is set
    where the model is compiled (``embedding-net train`` does it at every compile, resume
    included); a model loaded back with ``compile=True`` trains every variable alike until it
    is set again. Decoupled weight decay (``adamw``) still uses the base learning rate.

    Args:
        optimizer: a Keras optimizer, not yet built or built for these variables.
        variables: the variables to scale (e.g. ``network.backbone.trainable_variables``).
        factor: float in ``(0, 1]``; 1 leaves the optimizer as it is.

    Returns:
        ``optimizer`` itself.

    Raises:
        ValueError: ``factor`` outside ``(0, 1]``, or ``variables`` empty while ``factor``
            is below 1.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 1:
        raise ValueError(f"scale_learning_rate: factor must be in (0, 1], got {factor!r}")
    variables = list(variables)
    if factor == 1:
        return optimizer
    if not variables:
        raise ValueError(
            "scale_learning_rate: no variables to scale (is the backbone frozen? it has no "
            "trainable variables)"
        )
    keys = {id(v) for v in variables}
    if keras.backend.backend() == "tensorflow":
        # the TensorFlow backend applies updates to each keras.Variable's tf.Variable (.value)
        keys |= {id(v.value) for v in variables}
    plain = optimizer.update_step

    def update_step(gradient, variable, learning_rate):
        if id(variable) in keys:
            learning_rate = learning_rate * factor
        return plain(gradient, variable, learning_rate)

    optimizer.update_step = update_step
    return optimizer
