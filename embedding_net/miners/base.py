"""Miner base class, the mining result and the masked reductions shared by miners and losses.

Miners return **fixed-shape** masks / weights (never index lists), so that they compile under
``tf.function(jit_compile=True)`` and ``jax.jit`` and work with ``tf.distribute``:

- ``positive``: float ``(B, B)`` weights of (anchor, positive) pairs,
- ``negative``: float ``(B, B)`` weights of (anchor, negative) pairs,
- ``negative_index``: optional int32 ``(B, B)``: for triplet-level miners (semi-hard), the one
  negative chosen for each (anchor, positive) pair; the triplets are then
  ``(a, p, negative_index[a, p])`` weighted by ``positive[a, p]``.

When ``negative_index`` is ``None`` the triplets are the product set: (a, p, n) has weight
``positive[a, p] * negative[a, n]``.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

import keras
from keras import ops

from embedding_net.distances import deserialize_distance, get_distance, serialize_distance

_PACKAGE = "embedding_net"


class MiningResult(NamedTuple):
    """Output of a miner (see the module docstring).

    Attributes:
        positive: float ``(B, B)`` anchor-positive weights (0 where not mined).
        negative: float ``(B, B)`` anchor-negative weights (0 where not mined).
        negative_index: ``None`` or int32 ``(B, B)`` negative chosen per (anchor, positive).
    """

    positive: object
    negative: object
    negative_index: object = None


def labels_to_int(labels):
    """Flatten labels to int32 ``(B,)``.

    Keras casts ``y_true`` to float32 before a loss runs, which represents integers exactly only
    up to ``2**24 = 16_777_216``: remap class ids to ``0..N-1`` in the data pipeline.
    """
    labels = ops.convert_to_tensor(labels)
    labels = ops.reshape(labels, (-1,))
    if "int" not in str(labels.dtype):
        labels = ops.cast(ops.round(labels), "int32")
    return ops.cast(labels, "int32")


def label_masks(labels):
    """Positive and negative masks of a batch.

    Args:
        labels: tensor ``(B,)`` (or ``(B, 1)``) of class ids.

    Returns:
        ``(positive, negative)``: boolean ``(B, B)``; ``positive[a, p]`` is same label and
        ``p != a``; ``negative[a, n]`` is different label.
    """
    labels = labels_to_int(labels)
    adjacency = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    n = ops.shape(labels)[0]
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    return ops.logical_and(adjacency, not_self), ops.logical_not(adjacency)


def masked_maximum(data, mask, axis: int = 1):
    """tensorflow-addons' ``_masked_maximum``: ``max_j((d_j - min d) * m_j) + min d``.

    With an empty mask row this returns the row **minimum** of ``data``.

    Args:
        data: float ``(B, N)``.
        mask: ``(B, N)`` 0/1 (bool or float).
        axis: reduction axis.

    Returns:
        Float ``(B, 1)`` (keepdims, as tensorflow-addons).
    """
    mask = ops.cast(mask, data.dtype)
    axis_minimums = ops.min(data, axis=axis, keepdims=True)
    return ops.max((data - axis_minimums) * mask, axis=axis, keepdims=True) + axis_minimums


def masked_minimum(data, mask, axis: int = 1):
    """tensorflow-addons' ``_masked_minimum``: ``min_j((d_j - max d) * m_j) + max d``.

    With an empty mask row this returns the row **maximum** of ``data``.

    Returns:
        Float ``(B, 1)``.
    """
    mask = ops.cast(mask, data.dtype)
    axis_maximums = ops.max(data, axis=axis, keepdims=True)
    return ops.min((data - axis_maximums) * mask, axis=axis, keepdims=True) + axis_maximums


def row_cumsum(x, block: int = 32):
    """Inclusive cumulative sum along axis 1 of a 2-D tensor, fast under XLA.

    XLA on CPU lowers ``cumsum`` to a ``reduce_window`` that costs ``O(N^2)`` per row (1e9
    operations for a ``(1024, 1024)`` matrix). With a static width this computes it blockwise:
    a ``(block, block)`` triangular matmul inside blocks plus the running block totals. Integer
    inputs stay exact (float32 sums of integers below ``2**24``).

    Args:
        x: ``(B, N)`` int or float tensor.
        block: block width.

    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    x = ops.convert_to_tensor(x)
    n = x.shape[1]
    if n is None or n <= block:
        return ops.cumsum(x, axis=1)
    dtype = x.dtype
    xf = ops.cast(x, "float32")
    pad = (-n) % block
    if pad:
        xf = ops.pad(xf, [[0, 0], [0, pad]])
    nb = (n + pad) // block
    blocks = ops.reshape(xf, (-1, nb, block))
    upper = ops.triu(ops.ones((block, block), "float32"))  # upper[i, j] = [i <= j]
    within = ops.matmul(blocks, upper)  # (B, nb, block)
    totals = within[:, :, -1]  # (B, nb)
    strict = ops.triu(ops.ones((nb, nb), "float32"), k=1)  # [i < j]
    offsets = ops.matmul(totals, strict)  # exclusive running totals (B, nb)
    out = ops.reshape(within + ops.expand_dims(offsets, 2), (-1, nb * block))[:, :n]
    if "int" in str(dtype):
        out = ops.round(out)
    return ops.cast(out, dtype)


def count_less_equal(values, mask, queries):
    """Per row, how many masked ``values`` are ``<= query``, for every query, in O(B N log N).

    ``out[a, q] = #{n : mask[a, n] and values[a, n] <= queries[a, q]}`` without building the
    ``(B, Q, N)`` comparison: one stable sort of ``[masked values | queries]`` per row (on
    ties the values come first), a cumulative count, and the inverse permutation.

    Args:
        values: float ``(B, N)``.
        mask: bool ``(B, N)``.
        queries: float ``(B, Q)``.

    Returns:
        ``(counts, order)``: int32 ``(B, Q)`` counts, and int32 ``(B, N)`` the ascending order of
        the masked values (unmasked ones last), so that ``order[a, k]`` is the index of the
        ``k``-th smallest masked value of row ``a``.
    """
    values = ops.stop_gradient(values)
    queries = ops.stop_gradient(queries)
    big = ops.cast(float("inf"), values.dtype)
    masked = ops.where(mask, values, big)
    n = ops.shape(values)[1]
    combined = ops.concatenate([masked, queries], axis=1)
    # argsort is stable on the tensorflow and jax backends: on ties, values (first half) precede
    # queries, so they are counted as "<= query".
    combined_order = ops.argsort(combined, axis=1)
    from_values = ops.logical_and(
        ops.less(combined_order, n),
        ops.take_along_axis(
            ops.concatenate([mask, ops.zeros_like(queries, "bool")], 1), combined_order, axis=1
        ),
    )
    counts_sorted = row_cumsum(ops.cast(from_values, "int32"))
    position = ops.argsort(combined_order, axis=1)  # inverse permutation
    counts = ops.take_along_axis(counts_sorted, position[:, n:], axis=1)
    order = ops.argsort(masked, axis=1)
    return ops.cast(counts, "int32"), ops.cast(order, "int32")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Miner(abc.ABC):
    """Base class of miners: ``miner(labels, embeddings)`` or ``miner.mine(matrix, labels)``.

    Args:
        distance: distance used when the miner is called on embeddings (a name, a
            :class:`~embedding_net.distances.Distance` or a callable). A loss that owns a miner
            passes its own distance matrix to :meth:`mine` instead.
    """

    def __init__(self, distance="L2"):
        self.distance = deserialize_distance(distance)

    @property
    def distance_object(self):
        return get_distance(self.distance)

    def __call__(self, labels, embeddings, distance=None) -> MiningResult:
        """Mine a batch.

        Args:
            labels: int ``(B,)`` class ids.
            embeddings: float ``(B, D)``.
            distance: overrides the miner's distance for this call.

        Returns:
            A :class:`MiningResult`.
        """
        dist = get_distance(self.distance if distance is None else distance)
        matrix = dist(embeddings)
        return self.mine(matrix, labels, is_inverted=dist.is_inverted)

    @abc.abstractmethod
    def mine(self, matrix, labels, is_inverted: bool = False) -> MiningResult:
        """Mine from a precomputed ``(B, B)`` distance (or similarity) ``matrix``.

        Args:
            matrix: float ``(B, B)``.
            labels: int ``(B,)``.
            is_inverted: ``True`` when ``matrix`` holds similarities (larger = closer).
        """

    def get_config(self) -> dict:
        return {"distance": serialize_distance(self.distance)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
