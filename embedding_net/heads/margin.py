"""Margin-softmax heads: ArcFace, sub-center ArcFace, CosFace and the identity softmax."""

from __future__ import annotations

import keras

from embedding_net.heads.base import ClassHead, register_head
from embedding_net.losses.identity import identity_softmax_loss
from embedding_net.losses.margin_softmax import arcface_loss, cosface_loss


@keras.saving.register_keras_serializable(package="embedding_net")
class ArcFaceHead(ClassHead):
    """ArcFace (Deng et al., CVPR 2019): one weight vector per class; see
    :func:`~embedding_net.losses.arcface_loss`.

    Args:
        num_classes, embedding_dim, initializer: see :class:`ClassHead`.
        margin: additive angular margin ``m`` in radians (default 0.5).
        scale: logit scale ``s`` (default 64).

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(arcface_loss)
    params = ("margin", "scale")

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        margin: float = 0.5,
        scale: float = 64.0,
        initializer=None,
        name: str = "arcface_head",
        **kwargs,
    ):
        self.margin, self.scale = float(margin), float(scale)
        super().__init__(num_classes, embedding_dim, initializer=initializer, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="embedding_net")
class SubCenterArcFaceHead(ClassHead):
    """Sub-center ArcFace (Deng et al., ECCV 2020): ``num_centers`` weight vectors per
    class, the closest one used; see :func:`~embedding_net.losses.arcface_loss`.

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(arcface_loss)
    params = ("num_centers", "margin", "scale")

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        num_centers: int = 3,
        margin: float = 0.5,
        scale: float = 64.0,
        initializer=None,
        name: str = "sub_center_arcface_head",
        **kwargs,
    ):
        self.margin, self.scale = float(margin), float(scale)
        super().__init__(
            num_classes,
            embedding_dim,
            num_centers=num_centers,
            initializer=initializer,
            name=name,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="embedding_net")
class CosFaceHead(ClassHead):
    """CosFace / large-margin cosine loss (Wang et al., CVPR 2018); see
    :func:`~embedding_net.losses.cosface_loss`.

    Args:
        margin: additive cosine margin ``m`` (default 0.35); scale: ``s`` (default 64).

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(cosface_loss)
    params = ("margin", "scale")

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        margin: float = 0.35,
        scale: float = 64.0,
        initializer=None,
        name: str = "cosface_head",
        **kwargs,
    ):
        self.margin, self.scale = float(margin), float(scale)
        super().__init__(num_classes, embedding_dim, initializer=initializer, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="embedding_net")
class IdentitySoftmaxHead(ClassHead):
    """The re-id "ID loss": a bias-free linear classifier and label-smoothed
    cross-entropy; see :func:`~embedding_net.losses.identity_softmax_loss`.

    Args:
        label_smoothing: in ``[0, 1]`` (default 0.1); scale: logit multiplier (> 0).

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(identity_softmax_loss)
    params = ("label_smoothing", "scale")

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        label_smoothing: float = 0.1,
        scale: float = 1.0,
        initializer=None,
        name: str = "identity_softmax_head",
        **kwargs,
    ):
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing}")
        if not scale > 0:
            raise ValueError(f"`scale` must be > 0, got {scale}")
        self.label_smoothing, self.scale = float(label_smoothing), float(scale)
        super().__init__(num_classes, embedding_dim, initializer=initializer, name=name, **kwargs)


register_head("arcface", ArcFaceHead)
register_head("sub-center-arcface", SubCenterArcFaceHead)
register_head("cosface", CosFaceHead)
register_head("identity-softmax", IdentitySoftmaxHead)
