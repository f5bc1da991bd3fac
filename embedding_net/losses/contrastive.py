"""Contrastive loss (Hadsell, Chopra & LeCun, 2006): tensorflow-addons 0.23's pair form and
its in-batch form over every pair of a batch."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import float32, float_dtype, pair_batch

_PACKAGE = "embedding_net"


def contrastive_loss(y_true, y_pred, margin: float = 1.0):
    """Per-pair contrastive loss, ``tfa.losses.contrastive_loss``.

    ``l_i = y_i d_i^2 + (1 - y_i) max(margin - d_i, 0)^2``: ``y = 1`` marks a **similar** pair
    (pulled together), ``y = 0`` a dissimilar one (pushed beyond ``margin``).

    Args:
        y_true: 0/1 labels ``(B,)`` (any numeric dtype).
        y_pred: float distances ``(B,)`` (not squared), e.g. the output of a siamese head;
            computed in float32, the result has the dtype of a float ``y_pred`` (float32 for
            integer distances), as tensorflow-addons.
        margin: the margin.

    Returns:
        Float ``(B,)``: per-pair losses (Keras' default reduction then averages them).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = float_dtype(y_pred)
    d = float32(y_pred)
    y = float32(y_true)
    loss = y * ops.square(d) + (1.0 - y) * ops.square(ops.maximum(margin - d, 0.0))
    return ops.cast(loss, dtype)


@register_loss("contrastive")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class ContrastiveLoss(MetricLoss):
    """Class of :func:`contrastive_loss` (``tfa.losses.ContrastiveLoss``).

    Call as ``loss(y_true (B,) 0/1, y_pred (B,) distances)``; the default reduction
    ``"sum_over_batch_size"`` returns the mean over the batch, as tensorflow-addons, in the
    dtype of a float16 / bfloat16 ``y_pred`` unless ``dtype`` is given. A pair loss, not an
    in-batch one (:class:`BatchContrastiveLoss` is): it takes no reference set.

    Args:
        margin: the margin.
        reduction: Keras reduction.
        name: loss name.
        dtype: Keras loss dtype.
    """

    fn = staticmethod(contrastive_loss)
    in_batch = False
    returns_input_dtype = True

    def __init__(
        self,
        margin: float = 1.0,
        reduction: str = "sum_over_batch_size",
        name: str = "contrastive_loss",
        dtype=None,
    ):
        super().__init__(reduction, name, dtype, margin=float(margin))


def batch_contrastive_loss(
    labels,
    embeddings,
    margin: float = 1.0,
    distance="L2",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Contrastive loss over every pair of a batch, one value per anchor.

    With distances ``D`` (L2 by default), positives ``P_i`` and negatives ``N_i``::

        L_i = ( sum_{p in P_i} D_ip^2 + sum_{n in N_i} max(margin - D_in, 0)^2 ) / (|P_i| + |N_i|)

    the per-pair terms of :func:`contrastive_loss`. Anchors without any pair give 0.

    Args:
        labels: int tensor ``(batch,)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        margin: the margin of the negatives.
        distance: a distance (``"L2"``, ``"squared-L2"``, ``"angular"``, a ``Distance`` or a
            callable); similarities are refused.
        miner: optional miner; only the pairs it keeps count.
        ref_labels, ref_embeddings, ref_valid: optional reference set (cross-batch memory).

    Returns:
        float32 tensor ``(batch,)``.

    Raises:
        ValueError: ``distance`` is a similarity.
    """
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    if batch.is_similarity:
        raise ValueError(
            f"batch_contrastive_loss: `distance` must be a distance (L2, squared-L2, angular), "
            f"got the similarity {distance!r}"
        )
    per_pair = contrastive_loss(ops.cast(batch.positive, "float32"), batch.matrix, margin)
    pairs = ops.logical_or(batch.positive, batch.negative)
    count = ops.sum(ops.cast(pairs, "float32"), axis=1)
    total = ops.sum(ops.where(pairs, per_pair, 0.0), axis=1)
    return total / ops.maximum(count, 1.0)


@register_loss("batch-contrastive")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchContrastiveLoss(MetricLoss):
    """In-batch contrastive loss; see :func:`batch_contrastive_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``; per anchor ``(batch,)``.

    Args:
        margin, distance, miner: as in :func:`batch_contrastive_loss`.
        reduction, name, dtype: as in ``keras.losses.Loss``.
    """

    fn = staticmethod(batch_contrastive_loss)

    def __init__(
        self,
        margin: float = 1.0,
        distance="L2",
        miner=None,
        reduction: str = "sum_over_batch_size",
        name: str = "batch_contrastive_loss",
        dtype=None,
    ):
        if not margin >= 0:
            raise ValueError(f"BatchContrastiveLoss: `margin` must be >= 0, got {margin!r}")
        super().__init__(
            reduction, name, dtype, margin=float(margin), distance=distance, miner=miner
        )
