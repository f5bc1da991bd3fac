"""What every in-batch loss does before its formula: cast the inputs, build the distance (or
similarity) matrix of the batch against its candidates, the positive / negative masks, and
apply an optional miner; plus the masked log-sum-exp of the pair-based losses.

Candidates are the batch itself (an anchor is never its own positive) or, when
``ref_labels`` / ``ref_embeddings`` are given, the reference rows only (a cross-batch memory:
``ref_valid == False`` marks empty slots, which are neither positive nor negative).

Everything is ``keras.ops`` and float32: float16/bfloat16 inputs are cast up first.
"""

from __future__ import annotations

from typing import NamedTuple

from keras import ops

from embedding_net.distances import get_distance
from embedding_net.miners.masks import labels_to_int, pair_masks


def float32(x):
    """``x`` as a float32 tensor (float16/bfloat16 inputs are computed in float32)."""
    return ops.cast(ops.convert_to_tensor(x), "float32")


def float_dtype(x) -> str:
    """The dtype of ``x`` when it is a float tensor or array, else ``"float32"``."""
    dtype = str(getattr(x, "dtype", "float32"))
    for name in ("bfloat16", "float16", "float64", "float32"):
        if name in dtype:
            return name
    return "float32"


def embeddings_float32(y_pred, argument: str = "y_pred"):
    """Embeddings as float32 ``(B, D)`` plus the dtype to return results in.

    Args:
        y_pred: float (or int) tensor ``(B, D)``.
        argument: name used in the error message.

    Returns:
        ``(float32 (B, D) tensor, dtype name of y_pred)`` (``"float32"`` for int inputs).

    Raises:
        ValueError: ``y_pred`` is not 2-D.
    """
    embeddings = ops.convert_to_tensor(y_pred)
    if len(embeddings.shape) != 2:
        raise ValueError(
            f"`{argument}` must be embeddings of shape (batch, dim), got shape {embeddings.shape}"
        )
    return float32(embeddings), float_dtype(embeddings)


def check_distance(distance, argument: str = "distance"):
    """Validate a distance argument early; returns it unchanged (names stay names).

    Accepted: every name of :func:`embedding_net.distances.get_distance` (``"L2"``,
    ``"squared-L2"``, ``"angular"``, ``"cosine"``, ``"dot"``, ...), a ``Distance`` object, a
    callable ``(B, D) -> (B, B)`` or a serialised ``Distance``.

    Raises:
        ValueError: naming ``argument`` and listing the valid names.
    """
    try:
        get_distance(distance)
    except ValueError as error:
        raise ValueError(f"`{argument}`: {error}") from None
    return distance


def pairwise_matrix(distance, x, y=None):
    """Similarity or distance matrix between ``x (n, D)`` and ``y (m, D)`` (or ``x`` itself).

    Args:
        distance: anything :func:`embedding_net.distances.get_distance` accepts.
        x: float tensor ``(n, D)``.
        y: float tensor ``(m, D)``, or ``None`` for the batch against itself (L2 diagonal 0).

    Returns:
        ``(matrix float32 (n, m), is_similarity)``.
    """
    dist = get_distance(distance)
    matrix = dist(x) if y is None else dist(x, y)
    return float32(matrix), bool(dist.is_inverted)


def prepare_pair_inputs(labels, embeddings, ref_labels=None, ref_embeddings=None):
    """Cast the standard ``(labels, embeddings[, ref_labels, ref_embeddings])`` inputs.

    Returns:
        ``(labels int32 (batch,), x float32 (batch, D), ref_labels int32 (ref,) or None,
        y float32 (ref, D) or None)``; both ``None`` when the reference is the batch.

    Raises:
        ValueError: only one of ``ref_labels`` / ``ref_embeddings`` is given.
    """
    labels = labels_to_int(labels)
    x = float32(embeddings)
    if (ref_labels is None) != (ref_embeddings is None):
        raise ValueError("`ref_labels` and `ref_embeddings` must be given together")
    if ref_embeddings is None:
        return labels, x, None, None
    return labels, x, labels_to_int(ref_labels), float32(ref_embeddings)


class PairBatch(NamedTuple):
    """The inputs of an in-batch loss, cast and paired (see :func:`pair_batch`).

    Attributes:
        labels: int32 ``(B,)``.
        embeddings: float32 ``(B, D)``.
        matrix: float32 ``(B, N)`` distances or similarities to the ``N`` candidates.
        is_similarity: whether ``matrix`` holds similarities (larger = closer).
        positive: bool ``(B, N)`` (after mining).
        negative: bool ``(B, N)`` (after mining).
        ref_labels: int32 ``(R,)`` or ``None`` (the candidates are the batch).
        ref_valid: bool ``(R,)`` or ``None``.
    """

    labels: object
    embeddings: object
    matrix: object
    is_similarity: bool
    positive: object
    negative: object
    ref_labels: object = None
    ref_valid: object = None

    @property
    def has_reference(self) -> bool:
        return self.ref_labels is not None

    @property
    def distances(self):
        """``matrix`` in "smaller is closer" order (similarities negated)."""
        return -self.matrix if self.is_similarity else self.matrix


def mine_pairs(miner, batch: PairBatch) -> PairBatch:
    """Restrict the masks of ``batch`` to the pairs a miner keeps (``None``: all of them).

    The miner is called with the one contract of :meth:`embedding_net.miners.Miner.mine`;
    a pair is kept when its ``positive`` / ``negative`` weight is ``> 0``.
    """
    if miner is None:
        return batch
    from embedding_net.miners import get_miner

    mined = mine_batch(get_miner(miner), batch)
    positive = ops.logical_and(batch.positive, ops.greater(mined.positive, 0))
    negative = ops.logical_and(batch.negative, ops.greater(mined.negative, 0))
    return batch._replace(positive=positive, negative=negative)


def mine_batch(miner, batch: PairBatch, method: str = "mine"):
    """``miner.mine`` (or another method of the miner contract, e.g. ``"triplet_distances"``)
    on the matrix, labels and reference of ``batch``."""
    return getattr(miner, method)(
        batch.matrix,
        batch.labels,
        embeddings=batch.embeddings,
        ref_labels=batch.ref_labels,
        ref_valid=batch.ref_valid,
        is_inverted=batch.is_similarity,
    )


def pair_batch(
    labels,
    embeddings,
    distance,
    miner=None,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
) -> PairBatch:
    """Cast, pair and mine the inputs of an in-batch loss.

    Args:
        labels: int (or float, rounded) ids ``(B,)``.
        embeddings: float ``(B, D)``; computed in float32.
        distance: anything :func:`embedding_net.distances.get_distance` accepts.
        miner: ``None``, a miner name or an :class:`embedding_net.miners.Miner`.
        ref_labels, ref_embeddings, ref_valid: optional reference rows ``(R,)``, ``(R, D)``,
            bool ``(R,)``; default: the batch itself.

    Returns:
        A :class:`PairBatch`.
    """
    labels, x, ref_labels, y = prepare_pair_inputs(labels, embeddings, ref_labels, ref_embeddings)
    if ref_labels is None and ref_valid is not None:
        raise ValueError("`ref_valid` needs `ref_labels` and `ref_embeddings`")
    matrix, is_similarity = pairwise_matrix(distance, x, y)
    positive, negative = pair_masks(labels, ref_labels, ref_valid)
    if ref_valid is not None:
        ref_valid = ops.cast(ref_valid, "bool")
    batch = PairBatch(labels, x, matrix, is_similarity, positive, negative, ref_labels, ref_valid)
    return mine_pairs(miner, batch)


def masked_logsumexp(x, mask, axis: int = -1, add_one: bool = False):
    """``log(sum_{mask} exp(x))`` (``log(1 + sum ...)`` with ``add_one``), safe for empty rows.

    Rows whose mask is empty give 0 (with or without ``add_one``) and a zero, finite
    gradient: masked-out entries never reach ``exp``, so no ``0 * inf`` appears.

    Returns:
        ``(value, nonempty)``: float tensor reduced over ``axis`` and the bool tensor saying
        which rows had at least one entry.
    """
    mask = ops.cast(mask, "bool")
    nonempty = ops.any(mask, axis=axis)
    neg_inf = ops.cast(float("-inf"), x.dtype)
    masked = ops.where(mask, x, neg_inf)
    row_max = ops.max(masked, axis=axis, keepdims=True)
    row_max = ops.where(ops.isfinite(row_max), row_max, ops.zeros_like(row_max))
    if add_one:
        row_max = ops.maximum(row_max, 0.0)
    row_max = ops.stop_gradient(row_max)
    total = ops.sum(ops.exp(ops.where(mask, x - row_max, neg_inf)), axis=axis)
    shift = ops.squeeze(row_max, axis=axis)
    if add_one:
        total = total + ops.exp(-shift)
    safe_total = ops.where(nonempty, total, ops.ones_like(total))
    value = ops.log(safe_total) + shift
    return ops.where(nonempty, value, ops.zeros_like(value)), nonempty
