"""tensorflow-addons 0.23 triplet losses, number for number: semi-hard and hard.

Drop-in replacements for ``tfa.losses.TripletSemiHardLoss`` / ``TripletHardLoss`` and their
functions: same names, arguments, defaults and values (checked against reference numbers
computed with tensorflow-addons 0.23). Two deliberate differences:

- a batch without any positive pair returns ``0`` (tensorflow-addons: NaN) with a zero
  gradient, so that a degenerate batch never poisons training;
- ``soft=True`` uses a numerically stable softplus (tensorflow-addons' ``log1p(exp(x))``
  overflows to ``inf`` for ``x > ~88.7``).

The semi-hard negatives are found with row sorts in ``O(B^2 log B)`` (tensorflow-addons tiles a
``(B^2, B)`` matrix; at ``B = 1024`` that is 4 GB). Both functions return a **scalar** (as
tensorflow-addons), not a per-sample vector, in the dtype of ``y_pred`` (computed in float32);
the classes too, for float16 / bfloat16 inputs.

Beyond tensorflow-addons, both take the keywords of every in-batch loss: ``miner=`` (only the
pairs it keeps count) and a reference set ``ref_labels`` / ``ref_embeddings`` / ``ref_valid``
(a cross-batch memory: the anchors are the batch, the candidates the reference rows).

Labels: Keras casts ``y_true`` to float32 before a loss runs; ids are cast back to int32, which
is exact only below ``2**24``: remap class ids to ``0..N-1`` in the data pipeline.
"""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import embeddings_float32, pair_batch, pairwise_matrix
from embedding_net.miners.base import count_less_equal, row_cumsum
from embedding_net.miners.masks import masked_maximum, masked_minimum

_PACKAGE = "embedding_net"


def tfa_distance_matrix(embeddings, distance_metric="L2"):
    """tensorflow-addons' ``distance_metric`` dispatch, returning a ``(B, B)`` matrix in
    "smaller is closer" order.

    Args:
        embeddings: float ``(B, D)``.
        distance_metric: ``"L2"``, ``"squared-L2"``, ``"angular"``, any name of
            :func:`~embedding_net.distances.get_distance`, a
            :class:`~embedding_net.distances.Distance` (similarities are negated) or a callable
            ``(B, D) -> (B, B)`` returning distances.
    """
    matrix, is_similarity = pairwise_matrix(distance_metric, embeddings)
    return -matrix if is_similarity else matrix


def _tfa_pairs(y_true, y_pred, distance_metric, miner=None, ref=(None, None, None)):
    """``(pair batch, distances, dtype of y_pred)`` of a tensorflow-addons triplet loss.

    With a reference set, empty slots (``ref_valid`` False) get the row's smallest valid
    distance, so that tensorflow-addons' masked max / min (which look at the whole row) ignore
    them.
    """
    embeddings, dtype = embeddings_float32(y_pred)
    batch = pair_batch(y_true, embeddings, distance_metric, miner, *ref)
    pdist = batch.distances
    if batch.ref_valid is not None:
        valid = ops.expand_dims(batch.ref_valid, 0)
        inf = ops.cast(float("inf"), pdist.dtype)
        row_min = ops.min(ops.where(valid, pdist, inf), axis=1, keepdims=True)
        row_min = ops.where(ops.isfinite(row_min), row_min, ops.zeros_like(row_min))
        pdist = ops.where(valid, pdist, row_min)
    return batch, pdist, dtype


#: Batches whose anchors have at most this many positives take the compact path.
COMPACT_POSITIVE_TIERS = (4, 8, 32)


def semihard_negatives(pdist, negative_mask):
    """tensorflow-addons' semi-hard negative of every (anchor, positive) pair, ``(B, B)``.

    ``neg[a, p] = min {D[a, n] : n negative, D[a, n] > D[a, p]}`` when that set is non-empty,
    otherwise ``masked_maximum(D[a], negatives)`` (the farthest negative; the row minimum when
    ``a`` has no negative). Sort-based, ``O(B^2 log B)`` for every ``(a, p)``; the loss itself
    uses the faster compact path when the batch has few positives per anchor.

    Args:
        pdist: float ``(B, B)`` distances.
        negative_mask: bool ``(B, B)``.

    Returns:
        Float ``(B, B)``.
    """
    n = ops.shape(pdist)[1]
    counts, order = count_less_equal(pdist, negative_mask, pdist)
    num_neg = ops.sum(ops.cast(negative_mask, "int32"), axis=1, keepdims=True)
    has_outside = ops.less(counts, num_neg)
    idx = ops.take_along_axis(order, ops.minimum(counts, n - 1), axis=1)
    negatives_outside = ops.take_along_axis(pdist, idx, axis=1)
    negatives_inside = masked_maximum(pdist, negative_mask)
    return ops.where(has_outside, negatives_outside, negatives_inside)


def _semihard_sum_sorted(pdist, positive, negative, margin):
    semi_hard = semihard_negatives(pdist, negative)
    loss_mat = margin + pdist - semi_hard
    return ops.sum(ops.maximum(loss_mat * ops.cast(positive, pdist.dtype), 0.0))


def _semihard_sum_compact(pdist, positive, negative, margin, k: int):
    """Sum of the semi-hard hinge terms when every anchor has at most ``k`` positives.

    The positives of each anchor are gathered into ``(B, k)`` slots and their semi-hard
    negatives found with one masked min over ``(B, k, B)``: no sort. The gradient of the min is
    shared among tied values, as in tensorflow-addons.
    """
    dtype = pdist.dtype
    # slot r of anchor a holds its r-th positive: rank by cumulative count, then a one-hot
    # (B, B, k) match; no top_k (XLA on CPU lowers top_k to a full sort)
    pos_i = ops.cast(positive, "int32")
    rank = row_cumsum(pos_i) - 1
    slots = ops.arange(k, dtype="int32")
    match = ops.logical_and(
        ops.expand_dims(positive, 2), ops.equal(ops.expand_dims(rank, 2), slots)
    )  # (B, B, k)
    columns = ops.reshape(ops.arange(ops.shape(pdist)[1], dtype="int32"), (1, -1, 1))
    pos_idx = ops.sum(ops.where(match, columns, 0), axis=1)  # (B, k)
    valid = ops.any(match, axis=1)
    q = ops.take_along_axis(pdist, pos_idx, axis=1)  # (B, k) positive distances
    inf = ops.cast(float("inf"), dtype)
    neg_row = ops.expand_dims(ops.where(negative, pdist, inf), 1)  # (B, 1, B)
    farther = ops.where(ops.greater(neg_row, ops.expand_dims(q, 2)), neg_row, inf)  # (B, k, B)
    outside = ops.min(farther, axis=2)
    has_outside = ops.less(outside, inf)
    inside = masked_maximum(pdist, negative)  # (B, 1)
    semi_hard = ops.where(has_outside, outside, inside)
    terms = ops.maximum(margin + q - semi_hard, 0.0)
    return ops.sum(ops.where(valid, terms, ops.zeros_like(terms)))


def _concrete_int(x):
    """``int(x)`` when ``x`` holds a value (eager execution), ``None`` while tracing."""
    try:
        return int(ops.convert_to_numpy(x))
    except Exception:  # symbolic tf tensor or jax tracer: no value yet
        return None


def semihard_loss_sum(pdist, positive, negative, margin):
    """``sum_{(a,p)} max(margin + D_ap - D_an*(a,p), 0)`` over positive pairs, choosing at run
    time (``ops.cond``, so it compiles under XLA / ``jax.jit``) the compact path for the
    smallest tier of :data:`COMPACT_POSITIVE_TIERS` that holds the largest number of positives
    per anchor, and the sort-based path beyond."""
    max_positives = ops.max(ops.sum(ops.cast(positive, "int32"), axis=1))
    concrete = _concrete_int(max_positives)
    if concrete is not None:
        # eager: pick the path in Python (ops.cond would trace every branch on jax)
        for k in COMPACT_POSITIVE_TIERS:
            if concrete <= k:
                return _semihard_sum_compact(pdist, positive, negative, margin, k)
        return _semihard_sum_sorted(pdist, positive, negative, margin)

    def branch(i):
        if i == len(COMPACT_POSITIVE_TIERS):
            return lambda: _semihard_sum_sorted(pdist, positive, negative, margin)
        k = COMPACT_POSITIVE_TIERS[i]
        return lambda: ops.cond(
            ops.less_equal(max_positives, k),
            lambda: _semihard_sum_compact(pdist, positive, negative, margin, k),
            branch(i + 1),
        )

    return branch(0)()


def triplet_semihard_loss(
    y_true,
    y_pred,
    margin: float = 1.0,
    distance_metric="L2",
    *,
    miner=None,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Semi-hard triplet loss of tensorflow-addons 0.23 (FaceNet, Schroff et al. 2015).

    ``L = sum_{(a,p)} max(margin + D_ap - D_an*(a,p), 0) / #(a,p)`` over ordered positive pairs
    (same label, ``p != a``), where ``D_an*`` is the closest negative farther than ``D_ap``, or
    the farthest negative of ``a`` when none is farther. Without any positive pair the loss is 0
    (tensorflow-addons: NaN).

    Args:
        y_true: int labels ``(B,)`` (floats are rounded back to int32; exact below ``2**24``).
        y_pred: float embeddings ``(B, D)``; float16/bfloat16 are computed in float32 and the
            result cast back to the input dtype (as tensorflow-addons).
        margin: the margin.
        distance_metric: ``"L2"``, ``"squared-L2"``, ``"angular"`` (``1 - cos``), any name of
            :func:`~embedding_net.distances.get_distance`, a
            :class:`~embedding_net.distances.Distance` or a callable ``(B, D) -> (B, B)``.
        miner: optional miner; only the (anchor, positive) and (anchor, negative) pairs it
            keeps count.
        ref_labels, ref_embeddings, ref_valid: optional reference set ``(R,)``, ``(R, D)``,
            bool ``(R,)``: positives and negatives are then the reference rows.

    Returns:
        Scalar loss.
    """
    ref = (ref_labels, ref_embeddings, ref_valid)
    batch, pdist, dtype = _tfa_pairs(y_true, y_pred, distance_metric, miner, ref)
    positive, negative = batch.positive, batch.negative
    num_positives = ops.sum(ops.cast(positive, pdist.dtype))
    total = semihard_loss_sum(pdist, positive, negative, float(margin))
    loss = total / ops.maximum(num_positives, 1.0)
    return ops.cast(loss, dtype)


def triplet_hard_loss(
    y_true,
    y_pred,
    margin: float = 1.0,
    soft: bool = False,
    distance_metric="L2",
    *,
    miner=None,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Batch-hard triplet loss of tensorflow-addons 0.23 (Hermans et al. 2017).

    Per anchor ``hp = max_p D_ap`` and ``hn = min_n D_an`` (tensorflow-addons' masked helpers:
    ``hp`` is the row minimum without a positive, ``hn`` the row maximum without a negative);
    ``l_a = max(hp - hn + margin, 0)``, or ``softplus(hp - hn)`` with ``soft=True`` (the margin
    is then ignored). ``L = mean_a l_a`` over **all** ``B`` anchors.

    Args:
        y_true: int labels ``(B,)``.
        y_pred: float embeddings ``(B, D)`` (result in its dtype, computed in float32).
        margin: the margin (ignored when ``soft``).
        soft: soft-margin variant, computed stably (tensorflow-addons overflows to inf).
        distance_metric: see :func:`triplet_semihard_loss`.
        miner, ref_labels, ref_embeddings, ref_valid: see :func:`triplet_semihard_loss`.

    Returns:
        Scalar loss.
    """
    ref = (ref_labels, ref_embeddings, ref_valid)
    batch, pdist, dtype = _tfa_pairs(y_true, y_pred, distance_metric, miner, ref)
    hardest_positive = masked_maximum(pdist, batch.positive)
    hardest_negative = masked_minimum(pdist, batch.negative)
    if soft:
        per_anchor = ops.softplus(hardest_positive - hardest_negative)
    else:
        per_anchor = ops.maximum(hardest_positive - hardest_negative + margin, 0.0)
    return ops.cast(ops.mean(per_anchor), dtype)


@register_loss("triplet-semihard")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class TripletSemiHardLoss(MetricLoss):
    """Class of :func:`triplet_semihard_loss` (``tfa.losses.TripletSemiHardLoss``).

    Call as ``loss(labels (B,), embeddings (B, D))``; returns a scalar, of the dtype of a
    float16 / bfloat16 ``y_pred`` (as tensorflow-addons; computed in float32) unless ``dtype``
    is given. tensorflow-addons' positional order ``(margin, distance_metric, name)``.

    Args:
        margin: the margin.
        distance_metric: ``"L2"``, ``"squared-L2"``, ``"angular"``, a Distance or a callable.
        name: loss name.
        reduction: Keras reduction (the value is already a scalar).
        dtype: Keras loss dtype (computation is float32 anyway).
        miner: optional miner (see :func:`triplet_semihard_loss`).
    """

    fn = staticmethod(triplet_semihard_loss)
    returns_input_dtype = True

    def __init__(
        self,
        margin: float = 1.0,
        distance_metric="L2",
        name: str = "triplet_semihard_loss",
        reduction: str = "sum_over_batch_size",
        dtype=None,
        miner=None,
    ):
        super().__init__(
            reduction,
            name,
            dtype,
            margin=float(margin),
            distance_metric=distance_metric,
            miner=miner,
        )


@register_loss("triplet-hard")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class TripletHardLoss(MetricLoss):
    """Class of :func:`triplet_hard_loss` (``tfa.losses.TripletHardLoss``).

    Call as ``loss(labels (B,), embeddings (B, D))``; returns a scalar (dtype as
    :class:`TripletSemiHardLoss`). tensorflow-addons' positional order
    ``(margin, soft, distance_metric, name)``.

    Args:
        margin: the margin (ignored when ``soft``).
        soft: soft-margin variant.
        distance_metric: ``"L2"``, ``"squared-L2"``, ``"angular"``, a Distance or a callable.
        name: loss name.
        reduction: Keras reduction (the value is already a scalar).
        dtype: Keras loss dtype.
        miner: optional miner (see :func:`triplet_hard_loss`).
    """

    fn = staticmethod(triplet_hard_loss)
    returns_input_dtype = True

    def __init__(
        self,
        margin: float = 1.0,
        soft: bool = False,
        distance_metric="L2",
        name: str = "triplet_hard_loss",
        reduction: str = "sum_over_batch_size",
        dtype=None,
        miner=None,
    ):
        super().__init__(
            reduction,
            name,
            dtype,
            margin=float(margin),
            soft=bool(soft),
            distance_metric=distance_metric,
            miner=miner,
        )
