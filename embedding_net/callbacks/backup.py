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

Crash safety: both files are written under a temporary name and renamed into place, and the
metadata is the commit record. It holds the SHA-256 of the weights file it belongs to; before
the new weights replace the old, it is rewritten with a ``pending`` entry (the next epoch and
the new file's checksum), and after the rename with the new epoch. A process killed at any
moment therefore leaves weights whose checksum is the metadata's (or its pending entry's):
:func:`restore_backup` resumes from them with no completed epoch lost, and refuses
(:class:`BackupError`) a backup whose metadata is missing, unreadable or names other weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from embedding_net.atomic import atomic_path, file_sha256, write_json_atomic

__all__ = ["BackupError", "EpochBackup", "backup_epoch", "restore_backup"]

WEIGHTS_FILE = "latest.weights.h5"
METADATA_FILE = "training_metadata.json"


class BackupError(ValueError):
    """A backup folder holds weights that no complete metadata vouches for (a truncated or
    foreign file, metadata missing or malformed); the message names the file and what was
    expected."""


class EpochBackup(keras.callbacks.Callback):
    """Save weights + optimizer state and the number of completed epochs after every epoch.

    Args:
        backup_dir: the folder (created at the first save); the files are those of
            ``keras.callbacks.BackupAndRestore``, so either can read the other's backups
            (ours add the weights' ``sha256`` to the metadata).
    """

    def __init__(self, backup_dir):
        super().__init__()
        if not backup_dir:
            raise ValueError("EpochBackup: backup_dir is empty")
        self.backup_dir = Path(backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights = self.backup_dir / WEIGHTS_FILE
        metadata_path = self.backup_dir / METADATA_FILE
        committed = _committed(metadata_path, weights)
        with atomic_path(weights) as tmp:
            self.model.save_weights(tmp)
            pending = {"epoch": epoch + 1, "sha256": file_sha256(tmp)}
            write_json_atomic(metadata_path, {**committed, "pending": pending})
        write_json_atomic(
            metadata_path, {"epoch": epoch + 1, "batch": 0, "sha256": pending["sha256"]}
        )


def _committed(metadata_path: Path, weights: Path) -> dict:
    """The backup in place before a new one is written, as the metadata that vouches for it
    (epoch 0 and no checksum when there is none, or none readable)."""
    try:
        metadata = _read_metadata(metadata_path) if metadata_path.is_file() else {}
        if metadata.get("sha256") and "pending" not in metadata:  # our own, committed
            return {"epoch": metadata["epoch"], "batch": 0, "sha256": metadata["sha256"]}
        epoch = _verified_epoch(metadata_path.parent)
    except BackupError:
        epoch = 0
    if epoch == 0 or not weights.is_file():
        return {"epoch": 0, "batch": 0, "sha256": None}
    return {"epoch": epoch, "batch": 0, "sha256": file_sha256(weights)}


def _read_metadata(path: Path) -> dict:
    """The metadata of a backup; BackupError naming ``path`` when it is not a JSON object
    with an integer ``epoch`` >= 0."""
    try:
        metadata = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackupError(
            f"{path} is not readable JSON ({error}): the backup is incomplete; train afresh "
            "with --overwrite"
        ) from None
    epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise BackupError(
            f"{path}: expected a JSON object with an integer 'epoch' >= 0, got {metadata!r}"
        )
    return metadata


def _verified_epoch(backup_dir: Path) -> int:
    """Epochs completed by the weights in ``backup_dir`` according to its metadata (0: no
    weights); BackupError when they do not match."""
    weights, metadata_path = backup_dir / WEIGHTS_FILE, backup_dir / METADATA_FILE
    if not metadata_path.is_file():
        if weights.is_file():
            raise BackupError(
                f"{weights} has no {METADATA_FILE} beside it (the run was stopped before its "
                "first backup was complete): nothing to resume; train afresh with --overwrite"
            )
        return 0
    metadata = _read_metadata(metadata_path)
    if not weights.is_file():
        if metadata["epoch"] == 0:
            return 0
        raise BackupError(
            f"{metadata_path} records {metadata['epoch']} epoch(s) but {weights} is missing"
        )
    expected = metadata.get("sha256")
    if expected is None and "pending" not in metadata:  # written by keras.BackupAndRestore
        return metadata["epoch"]
    actual = file_sha256(weights)
    if actual == expected:
        return metadata["epoch"]
    pending = metadata.get("pending")
    if isinstance(pending, dict) and pending.get("sha256") == actual:
        return int(pending["epoch"])
    raise BackupError(
        f"{weights} does not match {metadata_path} (sha256 {actual[:12]}..., expected "
        f"{str(expected)[:12]}...): the weights are truncated or from another run; train "
        "afresh with --overwrite"
    )


def backup_epoch(backup_dir, verify: bool = False) -> int:
    """Epochs completed according to a backup folder's metadata (0 when it holds none).

    Args:
        backup_dir: the folder.
        verify: check the weights against the metadata's SHA-256 as :func:`restore_backup`
            does (and count the pending epoch whose weights are in place); otherwise only
            the metadata is read (cheap).

    Raises:
        BackupError: the metadata is not a JSON object with an integer ``epoch`` (or, with
            ``verify``, the weights do not match it).
    """
    if verify:
        return _verified_epoch(Path(backup_dir))
    metadata = Path(backup_dir) / METADATA_FILE
    if not metadata.is_file():
        return 0
    return _read_metadata(metadata)["epoch"]


def restore_backup(model, backup_dir) -> int:
    """Load the weights and optimizer state of a backup folder into ``model`` (built, and
    compiled when the backup holds optimizer state); returns the epochs it completed, 0
    (and nothing loaded) when the folder holds no backup.

    Raises:
        BackupError: the weights are not those the metadata records (truncated, foreign or
            without metadata); nothing is loaded.
    """
    backup_dir = Path(backup_dir)
    epoch = _verified_epoch(backup_dir)
    if not (backup_dir / WEIGHTS_FILE).is_file():
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(backup_dir / WEIGHTS_FILE)
    return epoch
