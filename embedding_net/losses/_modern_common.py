"""Former home of the modern losses' helpers, kept so that old imports keep working.

Each name is the one implementation that lives elsewhere now:

- ``FunctionLoss`` is :class:`embedding_net.losses.base.MetricLoss` (one base for every loss);
- ``int_labels`` is :func:`embedding_net.miners.masks.labels_to_int`;
- ``pair_masks`` is :func:`embedding_net.miners.masks.pair_masks`;
- ``l2_normalize`` and ``safe_sqrt`` are in :mod:`embedding_net.distances.functional`;
- ``float32``, ``check_distance``, ``pairwise_matrix``, ``masked_logsumexp`` and
  ``prepare_pair_inputs`` are in :mod:`embedding_net.losses.pairs`.
"""

from __future__ import annotations

from embedding_net.distances.functional import l2_normalize, safe_sqrt
from embedding_net.losses.base import MetricLoss as FunctionLoss
from embedding_net.losses.pairs import (
    check_distance,
    float32,
    masked_logsumexp,
    pairwise_matrix,
    prepare_pair_inputs,
)
from embedding_net.miners.masks import labels_to_int as int_labels
from embedding_net.miners.masks import pair_masks

__all__ = [
    "FunctionLoss",
    "check_distance",
    "float32",
    "int_labels",
    "l2_normalize",
    "masked_logsumexp",
    "pair_masks",
    "pairwise_matrix",
    "prepare_pair_inputs",
    "safe_sqrt",
]
