"""Additive-margin softmax losses: ArcFace, CosFace and sub-center ArcFace.

The functions take the class weights as an argument. Their class weights live in the heads
:class:`~embedding_net.heads.ArcFaceHead`, :class:`~embedding_net.heads.CosFaceHead` and
:class:`~embedding_net.heads.SubCenterArcFaceHead`; the loss classes here are deprecated
shims (see :mod:`embedding_net.losses.parametric`).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from embedding_net.distances.functional import l2_normalize, safe_sqrt
from embedding_net.losses.base import register_loss
from embedding_net.losses.pairs import float32
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.miners.masks import labels_to_int as int_labels


def _class_cosines(embeddings, weight_matrix, num_centers: int):
    """Cosine of every embedding with every class: max over its sub-centres. ``(B, C)``."""
    cos = ops.matmul(l2_normalize(float32(embeddings)), ops.transpose(l2_normalize(weight_matrix)))
    if num_centers > 1:
        cos = ops.max(ops.reshape(cos, (-1, cos.shape[-1] // num_centers, num_centers)), axis=-1)
    return ops.clip(cos, -1.0, 1.0)


def _margin_cross_entropy(labels, logits):
    num_classes = logits.shape[-1]
    target = ops.one_hot(labels, num_classes, dtype="float32")
    return -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)


def arcface_loss(
    labels,
    embeddings,
    weight_matrix,
    margin: float = 0.5,
    scale: float = 64.0,
    num_centers: int = 1,
):
    """ArcFace (Deng et al., CVPR 2019) and, with ``num_centers > 1``, sub-center ArcFace.

    With ``cos_ic`` the cosine between embedding ``i`` and class ``c`` (the largest over the
    class's sub-centres) and ``theta = arccos(cos_iy)``::

        logit_ic = s * cos(theta + m)   if c == y_i   (s * (cos_iy - m sin(m)) once theta + m > pi)
                   s * cos_ic           otherwise
        L_i = -log softmax(logit_i)_{y_i}

    ``cos(theta + m) = cos cos(m) - sin sin(m)`` with ``sin = sqrt(1 - cos^2)`` (value and
    gradient 0 at ``|cos| = 1``), the fallback past ``pi`` as in insightface.

    Args:
        labels: int tensor ``(batch,)`` in ``[0, num_classes)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        weight_matrix: float tensor ``(num_classes * num_centers, dim)``.
        margin: additive angular margin ``m`` (radians); scale: ``s``.
        num_centers: sub-centres per class ``K``.

    Returns:
        float32 tensor ``(batch,)``.
    """
    labels = int_labels(labels)
    cos = _class_cosines(embeddings, float32(weight_matrix), num_centers)
    sin = safe_sqrt(1.0 - ops.square(cos))
    cos_margin = cos * math.cos(margin) - sin * math.sin(margin)
    past_pi = cos <= math.cos(math.pi - margin)
    cos_margin = ops.where(past_pi, cos - margin * math.sin(margin), cos_margin)
    target = ops.cast(ops.one_hot(labels, cos.shape[-1]), "bool")
    logits = scale * ops.where(target, cos_margin, cos)
    return _margin_cross_entropy(labels, logits)


def cosface_loss(labels, embeddings, weight_matrix, margin: float = 0.35, scale: float = 64.0):
    """CosFace / large-margin cosine loss (Wang et al., CVPR 2018)::

        logit_ic = s * (cos_ic - m [c == y_i]),   L_i = -log softmax(logit_i)_{y_i}

    Args:
        labels: int tensor ``(batch,)`` in ``[0, num_classes)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        weight_matrix: float tensor ``(num_classes, dim)``.
        margin: additive cosine margin ``m``; scale: ``s``.

    Returns:
        float32 tensor ``(batch,)``.
    """
    labels = int_labels(labels)
    cos = _class_cosines(embeddings, float32(weight_matrix), 1)
    target = ops.one_hot(labels, cos.shape[-1], dtype="float32")
    return _margin_cross_entropy(labels, scale * (cos - margin * target))


@register_loss("arcface")
@keras.saving.register_keras_serializable(package="embedding_net")
class ArcFaceLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.ArcFaceHead`. ArcFace loss with its own
    class-weight matrix; see :func:`arcface_loss`.

    Args:
        num_classes: number of classes; embedding_dim: embedding size (or ``None``: built
            on attachment / first call).
        margin, scale: as in :func:`arcface_loss` (defaults 0.5 and 64).
        initializer, reduction, name, dtype: see :class:`ParametricLoss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "ArcFaceHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        margin: float = 0.5,
        scale: float = 64.0,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "arcface_loss",
        dtype=None,
    ):
        super().__init__(
            num_classes,
            embedding_dim,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
            margin=margin,
            scale=scale,
        )


@register_loss("sub-center-arcface")
@keras.saving.register_keras_serializable(package="embedding_net")
class SubCenterArcFaceLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.SubCenterArcFaceHead`.
    Sub-center ArcFace (Deng et al., ECCV 2020): ``num_centers`` weight rows per class,
    the closest one used; see :func:`arcface_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "SubCenterArcFaceHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        num_centers: int = 3,
        margin: float = 0.5,
        scale: float = 64.0,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "sub_center_arcface_loss",
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
            margin=margin,
            scale=scale,
        )


@register_loss("cosface")
@keras.saving.register_keras_serializable(package="embedding_net")
class CosFaceLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.CosFaceHead`. CosFace loss with its own
    class-weight matrix; see :func:`cosface_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "CosFaceHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        margin: float = 0.35,
        scale: float = 64.0,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "cosface_loss",
        dtype=None,
    ):
        super().__init__(
            num_classes,
            embedding_dim,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
            margin=margin,
            scale=scale,
        )
