"""Contrastive loss of tensorflow-addons 0.23 (Hadsell, Chopra & LeCun, 2006)."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss

_PACKAGE = "embedding_net"


def contrastive_loss(y_true, y_pred, margin: float = 1.0):
    """Per-pair contrastive loss, ``tfa.losses.contrastive_loss``.

    ``l_i = y_i d_i^2 + (1 - y_i) max(margin - d_i, 0)^2``: ``y = 1`` marks a **similar** pair
    (pulled together), ``y = 0`` a dissimilar one (pushed beyond ``margin``).

    Args:
        y_true: 0/1 labels ``(B,)`` (any numeric dtype, cast to the dtype of ``y_pred``).
        y_pred: float distances ``(B,)`` (not squared), e.g. the output of a siamese head.
        margin: the margin.

    Returns:
        Float ``(B,)``: per-pair losses (Keras' default reduction then averages them).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    if "float" not in str(y_pred.dtype):
        y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    return y_true * ops.square(y_pred) + (1.0 - y_true) * ops.square(
        ops.maximum(margin - y_pred, 0.0)
    )


@register_loss("contrastive")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class ContrastiveLoss(MetricLoss):
    """Class of :func:`contrastive_loss` (``tfa.losses.ContrastiveLoss``).

    Call as ``loss(y_true (B,) 0/1, y_pred (B,) distances)``; the default reduction
    ``"sum_over_batch_size"`` returns the mean over the batch, as tensorflow-addons.

    Args:
        margin: the margin.
        name: loss name.
        reduction: Keras reduction.
        dtype: Keras loss dtype.
    """

    def __init__(
        self,
        margin: float = 1.0,
        name: str = "contrastive_loss",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(
            contrastive_loss, name=name, reduction=reduction, dtype=dtype, margin=float(margin)
        )
