"""Lifted structure loss (Oh Song et al., CVPR 2016) and its generalised per-anchor form."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import masked_logsumexp, pair_batch

_EMPTY = -1e30  # stands for log(0) in a log-add-exp: finite, so gradients stay finite


def _pos_neg_margins(batch, pos_margin, neg_margin):
    """pytorch-metric-learning's ``distance.margin``: (pos excess, neg excess)."""
    if batch.is_similarity:
        return pos_margin - batch.matrix, batch.matrix - neg_margin
    return batch.matrix - pos_margin, neg_margin - batch.matrix


def lifted_structure_loss(
    labels,
    embeddings,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    distance="L2",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Lifted structure loss of the paper, spread over the anchors.

    With distances ``D`` (L2 by default), ordered positive pairs ``P`` and negatives
    ``N_i`` of each anchor::

        J_ij = log( sum_{k in N_i} exp(neg_margin - D_ik) + sum_{l in N_j} exp(neg_margin - D_jl) )
               + D_ij - pos_margin
        L    = 1 / (2 |P|) * sum_{(i,j) in P} relu(J_ij)^2

    (the paper's ``1/(2|P|)`` over unordered pairs equals this over ordered pairs). The
    per-sample value is ``l_i = batch / |P| * sum_{j in P_i} relu(J_ij)^2 / 2`` so that the
    batch mean (Keras' default reduction) is exactly ``L``; it is 0 everywhere when the
    batch has no positive pair. For a similarity, ``neg_margin - D`` becomes
    ``S - neg_margin`` and ``D - pos_margin`` becomes ``pos_margin - S``.

    With a reference set (cross-batch memory) ``j`` runs over the reference rows and
    ``N_j`` over the anchors whose label differs from ``j``'s (the column of the same
    ``(batch, ref)`` matrix).

    Args:
        labels: int tensor ``(batch,)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        pos_margin, neg_margin: the margins (the paper uses 0 and ``alpha = 1``).
        distance: ``"L2"`` (default), ``"squared-L2"``, ``"cosine"``, a ``Distance`` or a
            callable.
        miner: optional ``embedding_net.miners`` miner (object or name, e.g.
            ``"multi-similarity"``); only the pairs it keeps count.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory).

    Returns:
        float32 tensor ``(batch,)``.
    """
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    positive, negative = batch.positive, batch.negative
    pos_excess, neg_excess = _pos_neg_margins(batch, pos_margin, neg_margin)
    neg_lse, has_neg = masked_logsumexp(neg_excess, negative, axis=1)
    neg_lse = ops.where(has_neg, neg_lse, _EMPTY)
    if batch.has_reference:  # N_j of a reference row: the anchors of another label
        ref_lse, has_ref_neg = masked_logsumexp(neg_excess, negative, axis=0)
        ref_lse = ops.where(has_ref_neg, ref_lse, _EMPTY)
    else:
        ref_lse = neg_lse
    pair_neg = ops.logaddexp(ops.expand_dims(neg_lse, 1), ops.expand_dims(ref_lse, 0))
    per_pair = ops.square(ops.relu(pair_neg + pos_excess)) / 2.0
    per_pair = ops.where(positive, per_pair, 0.0)
    num_pairs = ops.sum(ops.cast(positive, "float32"))
    size = ops.cast(ops.shape(batch.labels)[0], "float32")
    scale = size / ops.maximum(num_pairs, 1.0)
    return ops.sum(per_pair, axis=1) * scale


def generalized_lifted_structure_loss(
    labels,
    embeddings,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    distance="L2",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Generalised lifted structure loss (Hermans et al., 2017), one value per anchor::

        L_i = relu( log sum_{p in P_i} exp(D_ip - pos_margin)
                  + log sum_{n in N_i} exp(neg_margin - D_in) )

    Anchors without a positive or a negative give 0. Arguments (reference set included) as
    :func:`lifted_structure_loss`.

    Returns:
        float32 tensor ``(batch,)``.
    """
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    pos_excess, neg_excess = _pos_neg_margins(batch, pos_margin, neg_margin)
    pos_lse, has_pos = masked_logsumexp(pos_excess, batch.positive, axis=1)
    neg_lse, has_neg = masked_logsumexp(neg_excess, batch.negative, axis=1)
    return ops.where(ops.logical_and(has_pos, has_neg), ops.relu(pos_lse + neg_lse), 0.0)


@register_loss("lifted-structure")
@keras.saving.register_keras_serializable(package="embedding_net")
class LiftedStructureLoss(MetricLoss):
    """Lifted structure loss (Oh Song et al., 2016); see :func:`lifted_structure_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(lifted_structure_loss)

    def __init__(
        self,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        distance="L2",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "lifted_structure_loss",
        dtype=None,
    ):
        super().__init__(
            reduction,
            name,
            dtype,
            pos_margin=pos_margin,
            neg_margin=neg_margin,
            distance=distance,
            miner=miner,
        )


@register_loss("generalized-lifted-structure")
@keras.saving.register_keras_serializable(package="embedding_net")
class GeneralizedLiftedStructureLoss(MetricLoss):
    """Generalised lifted structure loss; see :func:`generalized_lifted_structure_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(generalized_lifted_structure_loss)

    def __init__(
        self,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        distance="L2",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "generalized_lifted_structure_loss",
        dtype=None,
    ):
        super().__init__(
            reduction,
            name,
            dtype,
            pos_margin=pos_margin,
            neg_margin=neg_margin,
            distance=distance,
            miner=miner,
        )
