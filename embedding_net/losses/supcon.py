"""Supervised contrastive loss (Khosla et al., NeurIPS 2020)."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import masked_logsumexp, pair_batch


def supervised_contrastive_loss(
    labels,
    embeddings,
    temperature: float = 0.1,
    base_temperature: float = 0.07,
    distance="cosine",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Supervised contrastive loss ``L_out``, one value per anchor.

    With cosine similarities ``S`` of the (internally l2-normalised) embeddings, positives
    ``P_i`` and ``A_i`` = every other sample (positives and negatives)::

        L_i = -(t / t_base) / |P_i| * sum_{p in P_i} log( exp(S_ip / t) / sum_{a in A_i} exp(S_ia / t) )

    Anchors without a positive give 0 (the authors' code gives NaN). A distance ``D`` is
    used as ``S = -D``.

    Args:
        labels: int tensor ``(batch,)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        temperature: ``t > 0``; base_temperature: ``t_base`` (the authors' 0.07).
        distance: ``"cosine"`` (default), ``"dot"``, a distance name, ``Distance`` or callable.
        miner: optional miner; only the pairs it keeps count.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory).

    Returns:
        float32 tensor ``(batch,)``.
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature}")
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    logits = -batch.distances / temperature
    positive, negative = batch.positive, batch.negative
    lse, _ = masked_logsumexp(logits, ops.logical_or(positive, negative), axis=1)
    log_prob = logits - ops.expand_dims(lse, 1)
    num_pos = ops.sum(ops.cast(positive, "float32"), axis=1)
    mean_log_prob = ops.sum(ops.where(positive, log_prob, 0.0), axis=1) / ops.maximum(num_pos, 1.0)
    return -(temperature / base_temperature) * mean_log_prob


@register_loss("supervised-contrastive")
@keras.saving.register_keras_serializable(package="embedding_net")
class SupervisedContrastiveLoss(MetricLoss):
    """Supervised contrastive loss; see :func:`supervised_contrastive_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(supervised_contrastive_loss)

    def __init__(
        self,
        temperature: float = 0.1,
        base_temperature: float = 0.07,
        distance="cosine",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "supervised_contrastive_loss",
        dtype=None,
    ):
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature}")
        super().__init__(
            reduction,
            name,
            dtype,
            temperature=temperature,
            base_temperature=base_temperature,
            distance=distance,
            miner=miner,
        )
