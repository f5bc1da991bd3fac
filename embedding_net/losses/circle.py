"""Circle loss (Sun et al., CVPR 2020), matching ``keras.losses.Circle`` value for value."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import masked_logsumexp, pair_batch

#: Reductions that average over the batch: :class:`CircleLoss` averages over anchors with a
#: non-zero loss instead, as ``keras.losses.Circle``.
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


def circle_loss(
    labels,
    embeddings,
    gamma: float = 80.0,
    margin: float = 0.4,
    distance="cosine",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Circle loss, one value per anchor.

    With similarities ``s = min(S, 1)`` (cosine by default; a distance ``D`` is used as
    ``s = 1 - D``), optima ``O_p = 1 + m``, ``O_n = -m`` and margins ``D_p = 1 - m``,
    ``D_n = m``::

        a_p = relu(O_p - s_p),  a_n = relu(s_n - O_n)
        L_i = softplus( logsumexp_{p in P_i}(-gamma a_p (s_p - D_p))
                      + logsumexp_{n in N_i}( gamma a_n (s_n - D_n)) )

    Anchors without a positive or without a negative get 0 (and a zero, finite gradient).
    On L2-normalised embeddings the values equal ``keras.losses.circle``'s. This function
    returns the plain per-anchor values; :class:`CircleLoss` averages them over the anchors
    with a non-zero loss, as ``keras.losses.Circle``.

    Args:
        labels: int tensor ``(batch,)`` (float ids from Keras are cast back; exact < 2**24).
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        gamma: scale; margin: relaxation ``m``.
        distance: ``"cosine"`` (default; normalises), ``"dot"`` (Keras' convention: expects
            normalised inputs), ``"angular"``, a ``Distance`` or a callable.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory).
        miner: optional ``embedding_net.miners`` miner (object or name, e.g.
            ``"multi-similarity"``); only the pairs it keeps count.

    Returns:
        float32 tensor ``(batch,)``.
    """
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    matrix, positive, negative = batch.matrix, batch.positive, batch.negative
    cosine_distance = ops.maximum(1.0 - matrix if batch.is_similarity else matrix, 0.0)
    sim = 1.0 - cosine_distance
    pos_weight = ops.maximum(1.0 + margin - sim, 0.0)
    neg_weight = ops.maximum(sim + margin, 0.0)
    pos_logits = -gamma * pos_weight * (sim - (1.0 - margin))
    neg_logits = gamma * neg_weight * (sim - margin)
    pos_lse, has_pos = masked_logsumexp(pos_logits, positive, axis=1)
    neg_lse, has_neg = masked_logsumexp(neg_logits, negative, axis=1)
    valid = ops.logical_and(has_pos, has_neg)
    return ops.where(valid, ops.softplus(pos_lse + neg_lse), 0.0)


def _scale_to_nonzero_mean(per_anchor):
    """``per_anchor * B / #{loss > 0}`` (0 when no anchor has a loss): the factor that turns
    Keras' batch mean into the mean over anchors with a non-zero loss (``keras.losses.Circle``'s
    ``loss > 0`` mask, computed explicitly)."""
    total = ops.cast(ops.shape(per_anchor)[0], per_anchor.dtype)
    valid = ops.sum(ops.cast(ops.greater(per_anchor, 0.0), per_anchor.dtype))
    return per_anchor * ops.where(valid > 0, total / ops.maximum(valid, 1.0), 0.0)


@register_loss("circle")
@keras.saving.register_keras_serializable(package="embedding_net")
class CircleLoss(MetricLoss):
    """Circle loss (Sun et al., 2020); see :func:`circle_loss`.

    With the ``"sum_over_batch_size"`` (default) or ``"mean"`` reduction the value is the mean
    over the anchors with a non-zero loss, ``sum_i w_i L_i / #{L_i > 0}``, exactly
    ``keras.losses.Circle`` (which marks them with a Keras mask): :meth:`call` scales each
    anchor by ``B / #{L_i > 0}``. Other reductions, and :meth:`compute`, see the plain
    per-anchor values.

    Args:
        gamma, margin, distance, miner: as in :func:`circle_loss` (Keras' defaults 80 and 0.4).
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(circle_loss)

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        distance="cosine",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "circle_loss",
        dtype=None,
    ):
        super().__init__(
            reduction, name, dtype, gamma=gamma, margin=margin, distance=distance, miner=miner
        )

    def call(self, y_true, y_pred):
        per_anchor = self.compute(y_true, y_pred)
        if self.reduction in _MEAN_REDUCTIONS:
            return _scale_to_nonzero_mean(per_anchor)
        return per_anchor
