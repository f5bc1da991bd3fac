"""Deprecated alias of :mod:`embedding_net.training.losses` (``build_loss``,
``build_objective``, ``TrainingObjective``) and :class:`embedding_net.losses.CombinedLoss`
(formerly ``WeightedLossSum``); importing it warns. Kept for one release: the config package
only describes a run, the training package builds it."""

import warnings

from embedding_net.losses.combined import CombinedLoss, WeightedLossSum
from embedding_net.training.losses import (
    TrainingObjective,
    build_loss,
    build_objective,
    loss_class,
)

__all__ = [
    "CombinedLoss",
    "TrainingObjective",
    "WeightedLossSum",
    "build_loss",
    "build_objective",
    "loss_class",
]

warnings.warn(
    "embedding_net.config.losses is deprecated: import build_loss / build_objective from "
    "embedding_net.training.losses and CombinedLoss (formerly WeightedLossSum) from "
    "embedding_net.losses",
    DeprecationWarning,
    stacklevel=2,
)
