"""Back up a run after every epoch and restore it explicitly, for resumable training.

:class:`EpochBackup` writes the files of Keras' ``BackupAndRestore`` (``latest.weights.h5``:
weights and optimizer state; ``training_metadata.json``: ``{"epoch": epochs done, "batch":
0}``) but restores nothing by itself: the caller restores with :func:`restore_backup` and
passes the epoch it returns to ``fit(initial_epoch=...)``. The epoch to start from is then
an argument of each ``fit``, not state left on the model, so a run with several ``fit``
calls (a frozen phase, then fine-tuning, each with its own backup folder) starts each one
where it should::

    epoch = restore_backup(model, "run/backup")     # 0 when there is no backup
    model.fit(ds, epochs=10, initial_epoch=epoch, callbacks=[EpochBackup("run/backup")])
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

__all__ = ["EpochBackup", "backup_epoch", "restore_backup"]

WEIGHTS_FILE = "latest.weights.h5"
METADATA_FILE = "training_metadata.json"


class EpochBackup(keras.callbacks.Callback):
    """Save weights + optimizer state and the number of completed epochs after every epoch.

    Args:
        backup_dir: the folder (created at the first save); the files are those of
            ``keras.callbacks.BackupAndRestore``, so either can read the other's backups.
    """

    def __init__(self, backup_dir):
        super().__init__()
        if not backup_dir:
            raise ValueError("EpochBackup: backup_dir is empty")
        self.backup_dir = Path(backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_weights(self.backup_dir / WEIGHTS_FILE, overwrite=True)
        metadata = {"epoch": epoch + 1, "batch": 0}
        (self.backup_dir / METADATA_FILE).write_text(json.dumps(metadata))


def backup_epoch(backup_dir) -> int:
    """Epochs completed according to a backup folder (0 when it holds no backup)."""
    metadata = Path(backup_dir) / METADATA_FILE
    if not metadata.is_file():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])


def restore_backup(model, backup_dir) -> int:
    """Load the weights and optimizer state of a backup folder into ``model`` (built, and
    compiled when the backup holds optimizer state); returns the epochs it completed, 0
    (and nothing loaded) when the folder holds no backup."""
    backup_dir = Path(backup_dir)
    if not (backup_dir / WEIGHTS_FILE).is_file():
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(backup_dir / WEIGHTS_FILE)
    return backup_epoch(backup_dir)
