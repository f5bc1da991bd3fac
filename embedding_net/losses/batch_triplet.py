"""Batch-hard and batch-all triplet losses (Hermans, Beyer & Leibe, 2017) with swappable
``distance=`` and ``miner=``.

Both losses return a **per-anchor** vector ``(B,)`` so that Keras' reduction and
``sample_weight`` apply; anchors without any mined triplet contribute 0 (a batch without a valid
triplet gives loss 0, never NaN). With the default reduction the value is the mean over all
``B`` anchors; with P x K batches every anchor has triplets and this is the paper's mean.

The triplet term for a distance ``d`` (smaller = closer) is
``f(d_ap - d_an)`` with ``f(x) = max(x + margin, 0)`` (hinge) or ``f(x) = softplus(x)``
(``soft=True``, the paper's soft margin; ``margin`` is ignored). Similarities
(``is_inverted``, e.g. cosine) use ``distance.margin(s_ap, s_an) = s_an - s_ap``.
"""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.distances import get_distance
from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import check_distance, embeddings_float32, mine_batch, pair_batch
from embedding_net.miners import get_miner
from embedding_net.miners.base import count_less_equal, row_cumsum

_PACKAGE = "embedding_net"


def _term(x, margin, soft):
    return ops.softplus(x) if soft else ops.maximum(x + margin, 0.0)


def _hinge_product_sum(d, pos_w, neg_w, margin):
    """``sum_{p,n} pos_w[a,p] neg_w[a,n] max(d_ap - d_an + margin, 0)`` per anchor, and the
    number of (weighted) triplets with a positive term, without a ``(B, B, B)`` tensor.

    For a threshold ``t = d_ap + margin``: ``sum_n w_n max(t - d_n, 0) = t W(t) - V(t)`` with
    ``W``, ``V`` the sums of ``w_n`` and ``w_n d_n`` over ``d_n <= t`` (prefix sums in sorted
    order, found by :func:`~embedding_net.miners.base.count_less_equal`).
    """
    threshold = d + margin
    neg_mask = ops.greater(neg_w, 0.0)
    counts, order = count_less_equal(d, neg_mask, threshold)
    w_sorted = ops.take_along_axis(neg_w, order, axis=1)
    d_sorted = ops.take_along_axis(d, order, axis=1)
    w_cum = row_cumsum(w_sorted)
    wd_cum = row_cumsum(w_sorted * d_sorted)
    idx = ops.maximum(counts - 1, 0)
    some = ops.cast(ops.greater(counts, 0), d.dtype)
    w_le = ops.take_along_axis(w_cum, idx, axis=1) * some
    wd_le = ops.take_along_axis(wd_cum, idx, axis=1) * some
    per_pair = threshold * w_le - wd_le  # (a, p)
    total = ops.sum(pos_w * per_pair, axis=1)
    active = ops.sum(pos_w * w_le, axis=1)
    return total, active


def _triplets_from_mining(d, mining, margin, soft, nonzero):
    """Per-anchor mean of the triplet terms of a :class:`MiningResult` ``(B,)``."""
    pos_w = mining.positive
    if mining.negative_index is not None:
        an = ops.take_along_axis(d, mining.negative_index, axis=1)
        terms = _term(d - an, margin, soft) * pos_w
        total = ops.sum(terms, axis=1)
        count = ops.sum(pos_w * ops.cast(ops.greater(terms, 0.0), d.dtype), axis=1)
        if not nonzero:
            count = ops.sum(pos_w, axis=1)
    elif soft:
        # the soft margin does not factorise over (p, n): (B, B, B) terms (small batches)
        x = ops.expand_dims(d, 2) - ops.expand_dims(d, 1)
        w = ops.expand_dims(pos_w, 2) * ops.expand_dims(mining.negative, 1)
        total = ops.sum(ops.sum(w * ops.softplus(x), axis=2), axis=1)
        count = ops.sum(ops.sum(w, axis=2), axis=1)
    else:
        total, active = _hinge_product_sum(d, pos_w, mining.negative, margin)
        if nonzero:
            count = active
        else:
            count = ops.sum(pos_w, axis=1) * ops.sum(mining.negative, axis=1)
    return ops.where(ops.greater(count, 0.0), total / ops.maximum(count, 1e-12), 0.0)


def _paired_triplet_distances(miner, batch, dist, ref_embeddings):
    """``(d_ap, d_an)`` of each anchor's one mined triplet, recomputed from the embeddings.

    The miner picks the columns on the (not differentiated) matrix; the two distances are
    then ``dist.paired`` of the anchor and the gathered rows, so that the gradient flows
    through ``O(B D)`` work instead of the ``(B, B)`` matrix and its matmul. The values equal
    the matrix entries up to float rounding (the matrix uses the ``|x|^2 + |y|^2 - 2 x.y``
    expansion).
    """
    pos_idx, neg_idx, has_pos, has_neg = mine_batch(miner, batch, method="triplet_indices")
    x = batch.embeddings
    ref = x if ref_embeddings is None else ops.cast(ref_embeddings, x.dtype)
    d_ap = dist.to_distance(dist.paired(x, ops.take(ref, pos_idx, axis=0)))
    d_an = dist.to_distance(dist.paired(x, ops.take(ref, neg_idx, axis=0)))
    inf = ops.cast(float("inf"), d_ap.dtype)
    return ops.where(has_pos, d_ap, -inf), ops.where(has_neg, d_an, inf)


def batch_triplet_loss(
    y_true,
    y_pred,
    margin: float = 1.0,
    soft: bool = False,
    distance="L2",
    miner=None,
    nonzero: bool = False,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Triplet loss over the triplets chosen by a miner, per anchor ``(B,)``.

    ``l_a = mean over mined triplets (a, p, n) of f(d_ap - d_an)`` (``nonzero=True``: the mean
    over triplets with a positive hinge term, Hermans' "BA!=0"); 0 for an anchor without
    mined triplets.

    Args:
        y_true: int labels ``(B,)`` (float labels are rounded; exact below ``2**24``).
        y_pred: float embeddings ``(B, D)`` (computed in float32).
        margin: hinge margin (ignored when ``soft``).
        soft: soft-margin ``softplus(d_ap - d_an)``.
        distance: name, :class:`~embedding_net.distances.Distance` or callable.
        miner: ``None`` / ``"batch-hard"``, any name of
            :func:`~embedding_net.miners.get_miner`, or a Miner. A name builds a new miner per
            call: pass an object for stateful miners (seeded distance-weighted sampling). A
            miner with ``one_triplet_per_anchor`` (batch-hard) costs ``O(B^2)``; the soft
            margin with a product-set miner (batch-all) builds ``(B, B, B)`` terms: keep ``B``
            small.
        nonzero: average over non-zero triplets only (hinge).
        ref_labels, ref_embeddings, ref_valid: optional reference set ``(R,)``, ``(R, D)``,
            bool ``(R,)`` (cross-batch memory): positives and negatives are the reference rows.

    Returns:
        Float32 ``(B,)``.
    """
    embeddings, _ = embeddings_float32(y_pred)
    batch = pair_batch(y_true, embeddings, distance, None, ref_labels, ref_embeddings, ref_valid)
    miner_obj = get_miner("batch-hard" if miner is None else miner)
    if miner_obj.one_triplet_per_anchor:
        # one triplet per anchor (batch-hard): `nonzero` does not change the per-anchor value;
        # an anchor without a positive / negative gets -inf, whose hinge / softplus is 0
        dist = get_distance(distance)
        if dist.has_fast_paired:
            d_ap, d_an = _paired_triplet_distances(miner_obj, batch, dist, ref_embeddings)
        else:
            d_ap, d_an = mine_batch(miner_obj, batch, method="triplet_distances")
        return _term(d_ap - d_an, margin, soft)
    return _triplets_from_mining(
        batch.distances, mine_batch(miner_obj, batch), margin, soft, nonzero
    )


def batch_hard_triplet_loss(
    y_true,
    y_pred,
    margin: float = 1.0,
    soft: bool = False,
    distance="L2",
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Batch-hard triplet loss, per anchor ``(B,)``.

    ``l_a = f(max_p d_ap - min_n d_an)`` with ``f`` the hinge ``max(x + margin, 0)`` or the
    soft margin ``softplus(x)``; 0 for anchors without a positive or a negative (unlike
    :func:`~embedding_net.losses.triplet_hard_loss`, the tensorflow-addons version).

    Args:
        y_true: int labels ``(B,)``.
        y_pred: float embeddings ``(B, D)``.
        margin: hinge margin.
        soft: soft margin.
        distance: name, Distance or callable.
        ref_labels, ref_embeddings, ref_valid: optional reference set (see
            :func:`batch_triplet_loss`).

    Returns:
        Float32 ``(B,)``.
    """
    ref = {"ref_labels": ref_labels, "ref_embeddings": ref_embeddings, "ref_valid": ref_valid}
    return batch_triplet_loss(y_true, y_pred, margin, soft, distance, "batch-hard", **ref)


def batch_all_triplet_loss(
    y_true,
    y_pred,
    margin: float = 1.0,
    soft: bool = False,
    distance="L2",
    nonzero: bool = False,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Batch-all triplet loss, per anchor ``(B,)``.

    ``l_a = mean_{p, n} f(d_ap - d_an)`` over all positives and negatives of ``a`` (``nonzero``:
    over those with a positive hinge term). The hinge is computed in ``O(B^2 log B)`` by
    sorting; the soft margin builds ``(B, B, B)`` terms. Reference set: see
    :func:`batch_triplet_loss`.

    Returns:
        Float32 ``(B,)``.
    """
    ref = {"ref_labels": ref_labels, "ref_embeddings": ref_embeddings, "ref_valid": ref_valid}
    return batch_triplet_loss(y_true, y_pred, margin, soft, distance, "batch-all", nonzero, **ref)


class _BatchTripletLoss(MetricLoss):
    fn = staticmethod(batch_triplet_loss)
    _default_miner = None

    def __init__(
        self,
        margin: float = 1.0,
        soft: bool = False,
        distance="L2",
        miner=None,
        nonzero: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        if not margin >= 0:
            raise ValueError(f"{type(self).__name__}: `margin` must be >= 0, got {margin!r}")
        check_distance(distance)  # validate before the miner: the error lists the names
        super().__init__(
            reduction,
            name,
            dtype,
            margin=float(margin),
            soft=bool(soft),
            distance=distance,
            miner=self._default_miner if miner is None else miner,
            nonzero=bool(nonzero),
        )


@register_loss("batch-hard-triplet")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchHardTripletLoss(_BatchTripletLoss):
    """Batch-hard triplet loss (Hermans et al. 2017), class of :func:`batch_triplet_loss`.

    Call as ``loss(labels (B,), embeddings (B, D))``; per-anchor ``(B,)`` before reduction.

    Args:
        margin: hinge margin (ignored when ``soft``).
        soft: soft margin ``softplus(d_ap - d_an)``.
        distance: name, Distance or callable.
        miner: defaults to ``"batch-hard"``; any miner name / object.
        nonzero: average each anchor's terms over its non-zero triplets.
        reduction, name, dtype: as ``keras.losses.Loss``.
    """

    _default_miner = "batch-hard"

    def __init__(
        self,
        margin=1.0,
        soft=False,
        distance="L2",
        miner=None,
        nonzero=False,
        reduction="sum_over_batch_size",
        name="batch_hard_triplet_loss",
        dtype=None,
    ):
        super().__init__(margin, soft, distance, miner, nonzero, reduction, name, dtype)


@register_loss("batch-all-triplet")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchAllTripletLoss(_BatchTripletLoss):
    """Batch-all triplet loss (Hermans et al. 2017), class of :func:`batch_triplet_loss`.

    Call as ``loss(labels (B,), embeddings (B, D))``; per-anchor ``(B,)`` before reduction.

    Args:
        margin: hinge margin (ignored when ``soft``).
        soft: soft margin (builds ``(B, B, B)`` terms with the batch-all miner).
        distance: name, Distance or callable.
        miner: defaults to ``"batch-all"``; any miner name / object.
        nonzero: average over non-zero triplets only ("BA!=0").
        reduction, name, dtype: as ``keras.losses.Loss``.
    """

    _default_miner = "batch-all"

    def __init__(
        self,
        margin=1.0,
        soft=False,
        distance="L2",
        miner=None,
        nonzero=False,
        reduction="sum_over_batch_size",
        name="batch_all_triplet_loss",
        dtype=None,
    ):
        super().__init__(margin, soft, distance, miner, nonzero, reduction, name, dtype)
