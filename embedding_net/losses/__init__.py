"""Metric-learning losses (``keras.ops`` only; every Keras backend).

- tensorflow-addons 0.23 drop-ins: :class:`TripletSemiHardLoss`, :class:`TripletHardLoss`,
  :class:`ContrastiveLoss` and their functions.
- Hermans et al. batch-hard / batch-all triplet losses with ``distance=`` and ``miner=``.
- :func:`get` resolves a loss name (:func:`available_losses`).
"""

from embedding_net.losses.base import MetricLoss, available_losses, get, register_loss
from embedding_net.losses.contrastive import ContrastiveLoss, contrastive_loss
from embedding_net.losses.triplet import (
    TripletHardLoss,
    TripletSemiHardLoss,
    triplet_hard_loss,
    triplet_semihard_loss,
)

__all__ = [
    "ContrastiveLoss",
    "MetricLoss",
    "TripletHardLoss",
    "TripletSemiHardLoss",
    "available_losses",
    "contrastive_loss",
    "get",
    "register_loss",
    "triplet_hard_loss",
    "triplet_semihard_loss",
]
