"""Epoch logs of a training run: the learning rate in the logs, a CSV file whose columns grow.

Both are used by :func:`embedding_net.training.train` and work with any ``fit``::

    model.fit(ds, epochs=10, callbacks=[LearningRateLog(), RunCSVLogger("history.csv")])
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras
import numpy as np

from embedding_net.atomic import write_text_atomic

__all__ = ["LearningRateLog", "RunCSVLogger"]


class LearningRateLog(keras.callbacks.Callback):
    """Write the optimizer's learning rate at the end of each epoch into the epoch logs as
    ``learning_rate`` (so History, ``history.csv`` and TensorBoard record it), unless an
    earlier callback (ReduceLROnPlateau) already did."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "learning_rate" not in logs:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


class RunCSVLogger(keras.callbacks.Callback):
    """Write one row per epoch to a CSV file whose columns are every key any epoch logged.

    Keras' ``CSVLogger`` fixes its columns at the first epoch, so metrics that first appear
    later (validation every few epochs, a fine-tuning phase) were dropped. This logger keeps
    the run's rows (those already in the file when a run is resumed, too; rows of the epochs
    a resumed ``fit`` runs again are replaced) and rewrites the whole file (tens of rows)
    after every epoch under a temporary name, renamed into place, so a killed run never leaves
    a half-written row; an epoch without a key has an empty cell. One instance can serve
    several ``fit`` calls of one run: it reads the file once, at the first.

    Args:
        filename: the CSV file (``epoch`` first, then the log keys in order of appearance,
            each epoch's new keys sorted).
    """

    def __init__(self, filename):
        super().__init__()
        self.filename = Path(filename)
        self.rows: list[dict] | None = None
        self.columns: list[str] = []

    def on_train_begin(self, logs=None):
        self._fit_started = False
        if self.rows is not None:  # a later fit() of the same run (fine-tuning phase)
            return
        self.rows = []
        if self.filename.is_file():  # resume: keep the epochs already recorded
            with open(self.filename, newline="") as f:
                reader = csv.DictReader(f)
                self.rows = [dict(row) for row in reader]
                self.columns = [k for k in reader.fieldnames or () if k != "epoch"]

    def on_epoch_begin(self, epoch, logs=None):
        if not self._fit_started:  # resumed: the epochs from here on are run again
            self._fit_started = True
            self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch}
        for key, value in (logs or {}).items():
            value = np.asarray(value)
            row[key] = (
                value.item() if value.ndim == 0 else "[" + ", ".join(map(str, value.ravel())) + "]"
            )
        self.rows.append(row)
        self.columns += sorted(k for k in row if k != "epoch" and k not in self.columns)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=["epoch", *self.columns], restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.filename, text.getvalue())
