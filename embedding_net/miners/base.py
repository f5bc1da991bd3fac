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
from embedding_net.miners.masks import (  # noqa: F401  (re-exported: one implementation)
    label_masks,
    labels_to_int,
    masked_maximum,
    masked_minimum,
    pair_masks,
)

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

    The one contract every miner and every loss uses::

        miner.mine(matrix, labels, *, embeddings=None, ref_labels=None, ref_valid=None,
                   is_inverted=False) -> MiningResult

    ``matrix`` is ``(B, B)`` for a batch against itself, or ``(B, R)`` against reference rows
    (a cross-batch memory) whose ids are ``ref_labels (R,)`` and whose empty slots are
    ``ref_valid (R,) == False``. ``embeddings (B, D)`` is given by the caller for miners that
    need more than the matrix (distance-weighted sampling reads the dimension); the others
    ignore it. Losses never look at a miner's type; they read the :class:`MiningResult`,
    :attr:`one_triplet_per_anchor`, :meth:`triplet_distances` and :meth:`triplet_indices`.
    A new miner implements
    :meth:`select` (the masks are built once, by :meth:`mine`).

    Args:
        distance: distance used when the miner is called on embeddings (a name, a
            :class:`~embedding_net.distances.Distance` or a callable). A loss that owns a miner
            passes its own distance matrix to :meth:`mine` instead.
    """

    #: ``True`` when :meth:`mine` returns at most one positive and one negative per anchor
    #: (one-hot rows, ``negative_index`` ``None``): a triplet loss then reads the two
    #: distances directly instead of combining every (positive, negative) pair.
    one_triplet_per_anchor: bool = False

    def __init__(self, distance="L2"):
        self.distance = deserialize_distance(distance)

    @property
    def distance_object(self):
        return get_distance(self.distance)

    def __call__(self, labels, embeddings, distance=None, **mine_kwargs) -> MiningResult:
        """Mine a batch.

        Args:
            labels: int ``(B,)`` class ids.
            embeddings: float ``(B, D)``.
            distance: overrides the miner's distance for this call.
            **mine_kwargs: further keywords of this miner's :meth:`mine` (``seed=`` of
                :class:`DistanceWeightedMiner`).

        Returns:
            A :class:`MiningResult`.
        """
        dist = get_distance(self.distance if distance is None else distance)
        embeddings = ops.convert_to_tensor(embeddings)
        return self.mine(
            dist(embeddings),
            labels,
            embeddings=embeddings,
            is_inverted=dist.is_inverted,
            **mine_kwargs,
        )

    def mine(
        self,
        matrix,
        labels,
        *,
        embeddings=None,
        ref_labels=None,
        ref_valid=None,
        is_inverted: bool = False,
        **options,
    ) -> MiningResult:
        """Mine from a precomputed distance (or similarity) ``matrix``.

        Builds the positive / negative masks (:func:`~embedding_net.miners.masks.pair_masks`)
        once and hands them to :meth:`select`, the one method a miner implements.

        Args:
            matrix: float ``(B, B)``, or ``(B, R)`` against reference rows.
            labels: int ``(B,)``.
            embeddings: optional float ``(B, D)`` the matrix was computed from.
            ref_labels: int ``(R,)`` ids of the reference rows (``None``: the batch itself).
            ref_valid: optional bool ``(R,)``; invalid rows are never mined.
            is_inverted: ``True`` when ``matrix`` holds similarities (larger = closer).
            **options: keywords of a particular miner's :meth:`select` (``seed=`` of
                :class:`DistanceWeightedMiner`).

        Returns:
            A :class:`MiningResult` of masks ``(B, B)`` (or ``(B, R)``).
        """
        matrix = ops.convert_to_tensor(matrix)
        positive, negative = pair_masks(labels, ref_labels, ref_valid)
        return self.select(
            matrix, positive, negative, is_inverted=is_inverted, embeddings=embeddings, **options
        )

    @abc.abstractmethod
    def select(self, matrix, positive, negative, *, is_inverted=False, embeddings=None):
        """Choose pairs / triplets among the candidate pairs.

        Args:
            matrix: float ``(B, N)`` distances (or similarities, ``is_inverted``).
            positive, negative: bool ``(B, N)`` same-label / other-label candidate pairs
                (self pairs and empty reference slots already removed).
            is_inverted: whether ``matrix`` holds similarities.
            embeddings: optional float ``(B, D)``.

        Returns:
            A :class:`MiningResult`.
        """

    def triplet_distances(
        self,
        matrix,
        labels,
        *,
        embeddings=None,
        ref_labels=None,
        ref_valid=None,
        is_inverted: bool = False,
    ):
        """Per anchor, the distances of its one mined triplet, for miners with
        :attr:`one_triplet_per_anchor` (arguments as :meth:`mine`).

        Differentiable in ``matrix`` (the mining itself is not).

        Returns:
            ``(d_ap, d_an)``: float ``(B,)`` in "smaller is closer" order (similarities
            negated); ``-inf`` / ``+inf`` where an anchor has no mined positive / negative, so
            that a hinge or softplus of ``d_ap - d_an`` is exactly 0 there.

        Raises:
            ValueError: the miner keeps more than one triplet per anchor.
        """
        mined = self._mine_one_triplet(
            "triplet_distances", matrix, labels, embeddings, ref_labels, ref_valid, is_inverted
        )
        d = ops.convert_to_tensor(matrix)
        d = -d if is_inverted else d
        inf = ops.cast(float("inf"), d.dtype)
        d_ap = ops.sum(mined.positive * d, axis=1)
        d_an = ops.sum(mined.negative * d, axis=1)
        has_pos = ops.greater(ops.sum(mined.positive, axis=1), 0.0)
        has_neg = ops.greater(ops.sum(mined.negative, axis=1), 0.0)
        return ops.where(has_pos, d_ap, -inf), ops.where(has_neg, d_an, inf)

    def triplet_indices(
        self,
        matrix,
        labels,
        *,
        embeddings=None,
        ref_labels=None,
        ref_valid=None,
        is_inverted: bool = False,
    ):
        """Per anchor, the columns of its one mined triplet, for miners with
        :attr:`one_triplet_per_anchor` (arguments as :meth:`mine`; not differentiable).

        A loss that needs only these two entries per anchor recomputes them from the
        embeddings (``Distance.paired``): the backward pass is then ``O(B D)`` instead of
        going through the ``(B, B)`` matrix.

        Returns:
            ``(positive_index, negative_index, has_positive, has_negative)``: int ``(B,)``
            columns of ``matrix`` and bool ``(B,)`` (False: no mined positive / negative; the
            index is then 0 and meaningless).

        Raises:
            ValueError: the miner keeps more than one triplet per anchor.
        """
        matrix = ops.stop_gradient(ops.convert_to_tensor(matrix))
        mined = self._mine_one_triplet(
            "triplet_indices", matrix, labels, embeddings, ref_labels, ref_valid, is_inverted
        )
        return (
            ops.argmax(mined.positive, axis=1),
            ops.argmax(mined.negative, axis=1),
            ops.greater(ops.sum(mined.positive, axis=1), 0.0),
            ops.greater(ops.sum(mined.negative, axis=1), 0.0),
        )

    def _mine_one_triplet(
        self, method, matrix, labels, embeddings, ref_labels, ref_valid, is_inverted
    ) -> MiningResult:
        """:meth:`mine` for the one-triplet-per-anchor methods (``method`` names the caller
        in the error)."""
        if not self.one_triplet_per_anchor:
            raise ValueError(
                f"{type(self).__name__} keeps several triplets per anchor: use mine() "
                f"({method} needs one_triplet_per_anchor)"
            )
        return self.mine(
            matrix,
            labels,
            embeddings=embeddings,
            ref_labels=ref_labels,
            ref_valid=ref_valid,
            is_inverted=is_inverted,
        )

    def get_config(self) -> dict:
        return {"distance": serialize_distance(self.distance)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
