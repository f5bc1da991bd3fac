"""Circle loss (Sun et al., CVPR 2020), matching ``keras.losses.Circle`` value for value."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses._modern_common import (
    FunctionLoss,
    masked_logsumexp,
    mine_pairs,
    pair_masks,
    pairwise_matrix,
    prepare_pair_inputs,
)
from embedding_net.losses.base import register_loss

try:  # Keras' own circle loss marks zero-loss anchors this way; we do the same.
    from keras.src.backend import set_keras_mask as _set_keras_mask
except ImportError:  # pragma: no cover - older/newer Keras without the helper
    _set_keras_mask = None


def circle_loss(
    labels,
    embeddings,
    gamma: float = 80.0,
    margin: float = 0.4,
    distance="cosine",
    miner=None,
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
    Like ``keras.losses.circle``, the result carries a Keras mask ``loss > 0``, so the
    default ``"sum_over_batch_size"`` reduction averages over anchors with a non-zero loss.
    On L2-normalised embeddings the values equal ``keras.losses.circle``'s.

    Args:
        labels: int tensor ``(batch,)`` (float ids from Keras are cast back; exact < 2**24).
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        gamma: scale; margin: relaxation ``m``.
        distance: ``"cosine"`` (default; normalises), ``"dot"`` (Keras' convention: expects
            normalised inputs), ``"angular"``, a ``Distance`` or a callable.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory).
        miner: optional ``embedding_net.miners`` miner (object or name, e.g.
            ``"multi-similarity"``); only the pairs it keeps count (batch against itself).

    Returns:
        float32 tensor ``(batch,)``.
    """
    labels, x, ref_labels, y = prepare_pair_inputs(labels, embeddings, ref_labels, ref_embeddings)
    matrix, is_similarity = pairwise_matrix(distance, x, y)
    cosine_distance = ops.maximum(1.0 - matrix if is_similarity else matrix, 0.0)
    sim = 1.0 - cosine_distance
    positive, negative = pair_masks(labels, ref_labels, ref_valid)
    positive, negative = mine_pairs(
        miner, matrix, is_similarity, labels, positive, negative, ref_labels is not None
    )
    pos_weight = ops.maximum(1.0 + margin - sim, 0.0)
    neg_weight = ops.maximum(sim + margin, 0.0)
    pos_logits = -gamma * pos_weight * (sim - (1.0 - margin))
    neg_logits = gamma * neg_weight * (sim - margin)
    pos_lse, has_pos = masked_logsumexp(pos_logits, positive, axis=1)
    neg_lse, has_neg = masked_logsumexp(neg_logits, negative, axis=1)
    valid = ops.logical_and(has_pos, has_neg)
    loss = ops.where(valid, ops.softplus(pos_lse + neg_lse), 0.0)
    if _set_keras_mask is not None:
        _set_keras_mask(loss, loss > 0)
    return loss


@keras.saving.register_keras_serializable(package="embedding_net")
class CircleLoss(FunctionLoss):
    """Circle loss (Sun et al., 2020); see :func:`circle_loss`.

    Args:
        gamma, margin, distance: as in :func:`circle_loss` (Keras' defaults 80 and 0.4).
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
            name=name,
            reduction=reduction,
            dtype=dtype,
            gamma=gamma,
            margin=margin,
            distance=distance,
            miner=miner,
        )


register_loss("circle", CircleLoss)
