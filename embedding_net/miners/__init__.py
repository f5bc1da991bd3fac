"""Miners: select informative pairs / triplets as fixed-shape masks or weights.

Every miner returns a :class:`MiningResult` ``(positive (B, B), negative (B, B),
negative_index (B, B) or None)``; see :mod:`embedding_net.miners.base`. They run on every Keras
backend, compile under XLA and ``jax.jit``, and never build a ``(B, B, B)`` tensor.
"""

from __future__ import annotations

import keras

from embedding_net.miners.base import (
    Miner,
    MiningResult,
    count_less_equal,
    label_masks,
    labels_to_int,
    masked_maximum,
    masked_minimum,
    row_cumsum,
)
from embedding_net.miners.pair_miners import MultiSimilarityMiner
from embedding_net.miners.triplet_miners import (
    BatchAllMiner,
    BatchHardMiner,
    DistanceWeightedMiner,
    EasyPositiveMiner,
    SemiHardMiner,
)

_MINERS = {
    "batch-hard": BatchHardMiner,
    "batch-all": BatchAllMiner,
    "semi-hard": SemiHardMiner,
    "easy-positive": EasyPositiveMiner,
    "distance-weighted": DistanceWeightedMiner,
    "multi-similarity": MultiSimilarityMiner,
}


def available_miners() -> list[str]:
    """Names accepted by :func:`get_miner` (``_`` may replace ``-``)."""
    return sorted(_MINERS)


def get_miner(identifier, **kwargs) -> Miner | None:
    """Resolve a miner identifier.

    Args:
        identifier: a name from :func:`available_miners` (``"batch_hard"`` also accepted), a
            :class:`Miner`, a serialised config dict, or ``None`` (returns ``None``).
        **kwargs: constructor arguments when ``identifier`` is a name.

    Raises:
        ValueError: unknown name or type; the message lists the valid names.
    """
    if identifier is None or isinstance(identifier, Miner):
        return identifier
    if isinstance(identifier, dict):
        return get_miner(keras.saving.deserialize_keras_object(identifier))
    if isinstance(identifier, str):
        key = identifier.lower().replace("_", "-")
        if key in _MINERS:
            return _MINERS[key](**kwargs)
    raise ValueError(
        f"Unknown miner {identifier!r}: expected one of {available_miners()}, a Miner or None"
    )


__all__ = [
    "BatchAllMiner",
    "BatchHardMiner",
    "DistanceWeightedMiner",
    "EasyPositiveMiner",
    "Miner",
    "MiningResult",
    "MultiSimilarityMiner",
    "SemiHardMiner",
    "available_miners",
    "count_less_equal",
    "get_miner",
    "label_masks",
    "labels_to_int",
    "masked_maximum",
    "masked_minimum",
    "row_cumsum",
]
