"""N-pairs (Sohn, NeurIPS 2016) and InfoNCE / NT-Xent (Oord et al. 2018; Chen et al. 2020)."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import masked_logsumexp, pair_batch


def ntxent_loss(
    labels,
    embeddings,
    temperature: float = 0.07,
    distance="cosine",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """NT-Xent / InfoNCE with labels, one value per anchor (pytorch-metric-learning semantics).

    With similarities ``S`` (cosine by default; a distance ``D`` is used as ``S = -D``), every
    ordered positive pair ``(i, p)`` is a softmax classification of ``p`` against the
    negatives of ``i``::

        l_ip = -log( exp(S_ip / t) / (exp(S_ip / t) + sum_{n in N_i} exp(S_in / t)) )
        L_i  = mean_{p in P_i} l_ip

    Two augmented views per label give SimCLR's NT-Xent. pytorch-metric-learning averages
    over positive pairs; the batch mean of ``L_i`` is the same when every anchor has the
    same number of positives (P x K batches). Anchors without a positive give 0; anchors
    without negatives give 0.

    Args:
        labels: int tensor ``(batch,)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        temperature: ``t > 0``.
        distance: ``"cosine"`` (default), ``"dot"``, a distance name, ``Distance`` or callable.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory).
        miner: optional ``embedding_net.miners`` miner (object or name, e.g.
            ``"multi-similarity"``); only the pairs it keeps count.

    Returns:
        float32 tensor ``(batch,)``.
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature}")
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    logits = -batch.distances / temperature
    positive, negative = batch.positive, batch.negative
    neg_lse, has_neg = masked_logsumexp(logits, negative, axis=1)
    per_pair = ops.softplus(ops.expand_dims(neg_lse, 1) - logits)
    per_pair = ops.where(ops.logical_and(positive, ops.expand_dims(has_neg, 1)), per_pair, 0.0)
    num_pos = ops.sum(ops.cast(positive, "float32"), axis=1)
    return ops.sum(per_pair, axis=1) / ops.maximum(num_pos, 1.0)


def npairs_loss(
    labels,
    embeddings,
    l2_reg: float = 0.002,
    distance="dot",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Multi-class N-pairs loss over the batch, one value per anchor.

    With logits ``S_ij`` (dot product by default, as Sohn and tensorflow-addons) over all
    ``j != i`` and the target spread evenly over the positives ``P_i``::

        L_i = -sum_{j != i} [j in P_i] / |P_i| * log softmax_{j != i}(S_ij)
              + l2_reg / 2 * |f_i|^2

    tensorflow-addons' ``npairs_loss(y, S_anchor_positive)`` is the same cross-entropy with
    anchors and positives as two halves of a batch; its regulariser
    ``l2_reg / 4 * (mean |a|^2 + mean |p|^2)`` is the batch mean of the term above. Anchors
    without a positive contribute only the regulariser (tensorflow-addons gives NaN).

    Args:
        labels: int tensor ``(batch,)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        l2_reg: weight of the embedding-norm regulariser.
        distance: ``"dot"`` (default), ``"cosine"``, a distance name, ``Distance`` or callable.
        miner: optional miner; only the pairs it keeps count.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory):
            the softmax runs over the reference rows.

    Returns:
        float32 tensor ``(batch,)``.
    """
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    logits = -batch.distances
    positive, negative = batch.positive, batch.negative
    lse, _ = masked_logsumexp(logits, ops.logical_or(positive, negative), axis=1)
    log_prob = logits - ops.expand_dims(lse, 1)
    num_pos = ops.sum(ops.cast(positive, "float32"), axis=1)
    cross_entropy = -ops.sum(ops.where(positive, log_prob, 0.0), axis=1) / ops.maximum(num_pos, 1.0)
    return cross_entropy + 0.5 * l2_reg * ops.sum(ops.square(batch.embeddings), axis=1)


@register_loss("ntxent")
@keras.saving.register_keras_serializable(package="embedding_net")
class NTXentLoss(MetricLoss):
    """NT-Xent / InfoNCE loss with labels; see :func:`ntxent_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(ntxent_loss)

    def __init__(
        self,
        temperature: float = 0.07,
        distance="cosine",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "ntxent_loss",
        dtype=None,
    ):
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature}")
        super().__init__(
            reduction, name, dtype, temperature=temperature, distance=distance, miner=miner
        )


@register_loss("info-nce")
@keras.saving.register_keras_serializable(package="embedding_net")
class InfoNCELoss(NTXentLoss):
    """InfoNCE: the same loss as :class:`NTXentLoss` under its other name."""

    def __init__(
        self,
        temperature: float = 0.07,
        distance="cosine",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "info_nce_loss",
        dtype=None,
    ):
        super().__init__(temperature, distance, miner, reduction, name, dtype)


info_nce_loss = ntxent_loss


@register_loss("npairs")
@keras.saving.register_keras_serializable(package="embedding_net")
class NPairsLoss(MetricLoss):
    """Multi-class N-pairs loss; see :func:`npairs_loss` (``miner``: optional miner).

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(npairs_loss)

    def __init__(
        self,
        l2_reg: float = 0.002,
        distance="dot",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "npairs_loss",
        dtype=None,
    ):
        super().__init__(reduction, name, dtype, l2_reg=l2_reg, distance=distance, miner=miner)
