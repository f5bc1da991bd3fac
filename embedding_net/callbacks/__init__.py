"""Keras callbacks: evaluate embeddings during training (metrics -> logs + TensorBoard), train
to a wall-clock budget, log and back up the epochs of a run."""

from embedding_net.callbacks.backup import (
    BackupError,
    EpochBackup,
    backup_epoch,
    restore_backup,
)
from embedding_net.callbacks.budget import TimeBudget, TimeCosineSchedule
from embedding_net.callbacks.evaluation import (
    ProtocolEvaluation,
    RetrievalEvaluation,
    VerificationEvaluation,
)
from embedding_net.callbacks.run_logs import LearningRateLog, RunCSVLogger

__all__ = [
    "BackupError",
    "EpochBackup",
    "LearningRateLog",
    "ProtocolEvaluation",
    "RetrievalEvaluation",
    "RunCSVLogger",
    "TimeBudget",
    "TimeCosineSchedule",
    "VerificationEvaluation",
    "backup_epoch",
    "restore_backup",
]
