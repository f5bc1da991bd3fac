"""The callbacks of a training run, built once from the config and shared by its phases."""

from __future__ import annotations

import importlib.util
import logging

import keras
import numpy as np

from embedding_net.callbacks import ProtocolEvaluation, monitored
from embedding_net.callbacks.backup import EpochBackup
from embedding_net.callbacks.budget import TimeBudget
from embedding_net.callbacks.run_logs import LearningRateLog, RunCSVLogger
from embedding_net.config.schema import TrainConfig
from embedding_net.evaluation.protocols import MAIN_METRIC

logger = logging.getLogger(__name__)


class RunCallbacks:
    """One instance of each stateful callback for the whole run (the time budget, the
    validation, the best checkpoint, ``history.csv``, TensorBoard), so that the best value,
    the CSV columns and the budget's clock carry across the phases of a fine-tuning run.

    Args:
        config: the run's config (``callbacks``, ``validation``, ``training`` sections).
        run: the :class:`~embedding_net.training.RunDirectory` the files go to.
        network: the embedding network the validation encodes with.
        validation: the held-out :class:`~embedding_net.evaluation.ValidationSet`,
            or None (no validation).

    Attributes:
        monitor, mode: the log that picks the best model (None without validation) and
            ``max`` / ``min``.
        time_budget: the :class:`~embedding_net.callbacks.TimeBudget` of
            ``training.max_seconds`` (None: no budget).
        evaluation: the :class:`ProtocolEvaluation` (None without validation).
    """

    def __init__(self, config: TrainConfig, run, network, validation):
        cb = self.config = config.callbacks
        self.monitor, self.mode = monitor_of(config)
        self.time_budget = None
        if config.training.max_seconds is not None:
            self.time_budget = TimeBudget(
                config.training.max_seconds, mid_epoch=config.schedule.span == "time"
            )
        self.evaluation = None
        if validation is not None:
            self.evaluation = ProtocolEvaluation(
                network,
                validation,
                every=config.validation.every,
                epochs=config.training.epochs,
                batch_size=config.validation.batch_size,
                flip=config.validation.flip,
            )
        self.checkpoint = self.csv_logger = self.tensorboard = None
        if cb.save_best and self.monitor is not None:
            self.checkpoint = monitored.BestCheckpoint(
                str(run.best_model),
                monitor=self.monitor,
                mode=self.mode,
                save_best_only=True,
                # a resumed run keeps the best.keras of its earlier epochs unless it beats it
                initial_value_threshold=previous_best(run, self.monitor, self.mode),
            )
        if cb.csv_log:
            self.csv_logger = RunCSVLogger(run.history_csv)
        if cb.tensorboard and importlib.util.find_spec("tensorboard") is None:
            logger.warning(
                "callbacks.tensorboard: the tensorboard package is not installed, no TensorBoard "
                "logs are written (pip install tensorboard); history.csv still records every epoch"
            )
        elif cb.tensorboard:
            self.tensorboard = keras.callbacks.TensorBoard(
                log_dir=str(run.logs), write_graph=False, profile_batch=0
            )

    @property
    def budget_exhausted(self) -> bool:
        """Whether the time budget stopped training."""
        return self.time_budget is not None and self.time_budget.exhausted

    def for_phase(self, phase, schedule_callbacks: list) -> list:
        """The callback list of one phase's ``fit``, in the order they must run: the time
        budget first (the evaluation sees its stop), the validation (its metrics reach every
        later callback), the schedule, the learning-rate log, the CSV log, the backup, the
        best checkpoint, early stopping (if the phase has it) and TensorBoard. The CSV row of
        an epoch is written before its backup: a run killed between the two runs that epoch
        again when resumed and replaces the row, none is lost."""
        cb = self.config
        callbacks = [c for c in (self.time_budget, self.evaluation) if c is not None]
        callbacks.extend(schedule_callbacks)
        callbacks.append(LearningRateLog())
        if self.csv_logger is not None:
            callbacks.append(self.csv_logger)
        if cb.checkpoint_every_epoch:
            callbacks.append(EpochBackup(phase.backup))
        if self.checkpoint is not None:
            callbacks.append(self.checkpoint)
        if (
            phase.early_stopping
            and cb.early_stopping_patience is not None
            and self.monitor is not None
        ):
            callbacks.append(
                monitored.EarlyStopping(
                    monitor=self.monitor, mode=self.mode, patience=cb.early_stopping_patience
                )
            )
        if self.tensorboard is not None:
            callbacks.append(self.tensorboard)
        return callbacks

    def best_epoch(self) -> int | None:
        """The evaluated epoch (numbered from 1) with the best ``monitor`` value; None
        without validation or when ``monitor`` was never logged."""
        if self.monitor is None or self.evaluation is None:
            return None
        name = self.monitor[4:]
        evaluated = [(e, m[name]) for e, m in self.evaluation.evaluated if name in m]
        if not evaluated:
            return None
        values = np.asarray([v for _, v in evaluated])
        best = int(np.argmax(values) if self.mode == "max" else np.argmin(values))
        return evaluated[best][0]


def previous_best(run, monitor: str, mode: str) -> float | None:
    """The best ``monitor`` value in the ``history.csv`` of a resumed run whose
    ``best.keras`` exists (None: a new run, no such column, or no finite value)."""
    import csv

    if not (run.history_csv.is_file() and run.best_model.is_file()):
        return None
    with open(run.history_csv, newline="", encoding="utf-8") as f:
        values = []
        for row in csv.DictReader(f):
            try:
                values.append(float(row.get(monitor) or "nan"))
            except ValueError:
                continue
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return None
    return float(max(finite) if mode == "max" else min(finite))


def monitor_of(config: TrainConfig) -> tuple[str | None, str]:
    """``(log name picking the best model, "max" or "min")`` of the validation section:
    ``validation.monitor`` (``val_`` added) or the protocol's main metric; None: no
    validation."""
    v = config.validation
    if v.protocol == "none":
        return None, v.mode
    name = v.monitor or f"val_{MAIN_METRIC[v.protocol]}"
    if not name.startswith("val_"):
        name = f"val_{name}"
    return name, v.mode
