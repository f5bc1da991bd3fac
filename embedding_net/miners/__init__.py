"""Miners: select informative pairs / triplets as fixed-shape masks or weights.

Every miner is called the same way, ``miner.mine(matrix, labels, *, embeddings=None,
ref_labels=None, ref_valid=None, is_inverted=False)`` (or ``miner(labels, embeddings)``), and
returns a :class:`MiningResult` ``(positive (B, B), negative (B, B),
negative_index (B, B) or None)``; see :mod:`embedding_net.miners.base`. They run on every Keras
backend, compile under XLA and ``jax.jit``, and never build a ``(B, B, B)`` tensor.
"""

from __future__ import annotations

import keras

from embedding_net.miners.base import Miner, MiningResult, count_less_equal, row_cumsum
from embedding_net.miners.masks import (
    label_masks,
    labels_to_int,
    masked_maximum,
    masked_minimum,
    pair_masks,
)
from embedding_net.miners.pair_miners import MultiSimilarityMiner
from embedding_net.miners.triplet_miners import (
    BatchAllMiner,
    BatchHardMiner,
    DistanceWeightedMiner,
    EasyPositiveMiner,
    SemiHardMiner,
)
from embedding_net.registry import Registry

MINERS = Registry("miner")
for _name, _cls in (
    ("batch-hard", BatchHardMiner),
    ("batch-all", BatchAllMiner),
    ("semi-hard", SemiHardMiner),
    ("easy-positive", EasyPositiveMiner),
    ("distance-weighted", DistanceWeightedMiner),
    ("multi-similarity", MultiSimilarityMiner),
):
    MINERS.register(_name, _cls)


def register_miner(name: str, cls: type | None = None, *, aliases=()):
    """Register a :class:`Miner` subclass under ``name`` for :func:`get_miner` (also usable as a
    class decorator ``@register_miner("my-miner")``)."""
    return MINERS.register(name, cls, aliases=aliases)


def available_miners() -> list[str]:
    """Names accepted by :func:`get_miner` (case-insensitive, ``_`` may replace ``-``)."""
    return MINERS.names()


def get_miner(identifier, **kwargs) -> Miner | None:
    """Resolve a miner identifier.

    Args:
        identifier: a name from :func:`available_miners` (``"batch_hard"`` and the class name
            ``"BatchHardMiner"`` also accepted), a :class:`Miner`, a serialised config dict, or
            ``None`` (returns ``None``).
        **kwargs: constructor arguments when ``identifier`` is a name.

    Raises:
        ValueError: unknown name or type; the message lists the valid names.
    """
    if identifier is None or isinstance(identifier, Miner):
        return identifier
    if isinstance(identifier, dict):
        return get_miner(keras.saving.deserialize_keras_object(identifier))
    if isinstance(identifier, str) and identifier in MINERS:
        return MINERS.create(identifier, **kwargs)
    raise MINERS.unknown(identifier, "a Miner or None")


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
    "pair_masks",
    "register_miner",
    "row_cumsum",
]
