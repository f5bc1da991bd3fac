"""SoftTriple loss (Qian et al., ICCV 2019): several centres per class."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.distances.functional import l2_normalize
from embedding_net.losses.base import register_loss
from embedding_net.losses.pairs import float32
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.miners.masks import labels_to_int as int_labels


def softtriple_loss(
    labels,
    embeddings,
    centers,
    num_centers: int = 10,
    scale: float = 20.0,
    gamma: float = 0.1,
    reg_weight: float = 0.2,
    margin: float = 0.01,
):
    """SoftTriple loss, one value per sample (regulariser shared by all samples).

    With unit embeddings ``x_i`` and unit centres ``w_c^k`` (``K`` per class)::

        S_ic = sum_k softmax_k(x_i.w_c^k / gamma) * x_i.w_c^k
        L_i  = -log softmax_c(scale * (S_ic - margin [c == y_i]))_{y_i}  +  reg_weight * R
        R    = sum_c sum_{k < k'} sqrt(2 + 1e-5 - 2 w_c^k.w_c^k') / (C K (K - 1))

    (``R`` as in the authors' code; 0 when ``K == 1``). Keras' mean over the batch adds
    ``reg_weight * R`` once, as in the paper.

    Args:
        labels: int tensor ``(batch,)`` in ``[0, C)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        centers: float tensor ``(C * K, dim)``, rows ``c * K + k``.
        num_centers: ``K``; scale: ``lambda``; gamma: softmax temperature over centres;
        reg_weight: ``tau``; margin: ``delta``.

    Returns:
        float32 tensor ``(batch,)``.
    """
    labels = int_labels(labels)
    centers = l2_normalize(float32(centers))
    num_classes = centers.shape[0] // num_centers
    sim = ops.matmul(l2_normalize(float32(embeddings)), ops.transpose(centers))
    sim = ops.reshape(sim, (-1, num_classes, num_centers))
    if num_centers > 1:
        class_sim = ops.sum(ops.softmax(sim / gamma, axis=-1) * sim, axis=-1)
    else:
        class_sim = ops.squeeze(sim, axis=-1)
    target = ops.one_hot(labels, num_classes, dtype="float32")
    logits = scale * (class_sim - margin * target)
    loss = -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)
    if num_centers > 1 and reg_weight != 0:
        per_class = ops.reshape(centers, (num_classes, num_centers, -1))
        center_sim = ops.matmul(per_class, ops.transpose(per_class, (0, 2, 1)))  # (C, K, K)
        upper = ops.triu(ops.ones((num_centers, num_centers)), k=1)
        dist = ops.sqrt(ops.maximum(2.0 + 1e-5 - 2.0 * center_sim, 1e-12))
        reg = ops.sum(dist * upper) / (num_classes * num_centers * (num_centers - 1.0))
        loss = loss + reg_weight * reg
    return loss


@register_loss("softtriple")
@keras.saving.register_keras_serializable(package="embedding_net")
class SoftTripleLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.SoftTripleHead`. SoftTriple loss with its own ``num_centers`` centres per class; see
    :func:`softtriple_loss` (defaults are the paper's: K=10, lambda=20, gamma=0.1,
    tau=0.2, delta=0.01).

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "SoftTripleHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        num_centers: int = 10,
        scale: float = 20.0,
        gamma: float = 0.1,
        reg_weight: float = 0.2,
        margin: float = 0.01,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "softtriple_loss",
        dtype=None,
    ):
        super().__init__(
            num_classes,
            embedding_dim,
            num_centers=num_centers,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
            scale=scale,
            gamma=gamma,
            reg_weight=reg_weight,
            margin=margin,
        )
