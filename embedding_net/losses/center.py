"""Center loss (Wen et al., ECCV 2016): pulls each embedding towards its class centre."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import register_loss
from embedding_net.losses.pairs import float32
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.miners.masks import labels_to_int as int_labels


def center_loss(labels, embeddings, centers):
    """Center loss, one value per sample::

        L_i = 1/2 * |x_i - c_{y_i}|^2

    The centres are ordinary trainable weights here (updated by the model's optimizer,
    gradient ``c - x``), not the paper's separate moving-average rule. Use it next to a
    discriminative loss (softmax / identity head): alone it collapses all embeddings.

    Args:
        labels: int tensor ``(batch,)`` in ``[0, C)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        centers: float tensor ``(C, dim)``.

    Returns:
        float32 tensor ``(batch,)``.
    """
    labels = int_labels(labels)
    own_center = ops.take(float32(centers), labels, axis=0)
    return 0.5 * ops.sum(ops.square(float32(embeddings) - own_center), axis=-1)


@register_loss("center")
@keras.saving.register_keras_serializable(package="embedding_net")
class CenterLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.CenterHead`. Center loss with its own
    class centres (initialised at 0); see :func:`center_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "CenterHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "center_loss",
        dtype=None,
    ):
        super().__init__(
            num_classes,
            embedding_dim,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
        )
