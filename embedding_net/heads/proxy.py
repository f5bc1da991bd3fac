"""Proxy heads (Proxy-Anchor, Proxy-NCA, SoftTriple) and the Center-loss head."""

from __future__ import annotations

import keras

from embedding_net.heads.base import ClassHead, register_head
from embedding_net.losses.center import center_loss
from embedding_net.losses.proxy import proxy_anchor_loss, proxy_nca_loss
from embedding_net.losses.softtriple import softtriple_loss


@keras.saving.register_keras_serializable(package="embedding_net")
class ProxyAnchorHead(ClassHead):
    """Proxy-Anchor (Kim et al., CVPR 2020): one proxy per class, He-normal initialised as
    in the authors' code; see :func:`~embedding_net.losses.proxy_anchor_loss`.

    Args:
        alpha: scale (default 32); margin: ``delta`` (default 0.1).

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 scalar (a sum over
    proxies, not over samples).
    """

    loss_fn = staticmethod(proxy_anchor_loss)
    params = ("alpha", "margin")
    default_initializer = "he_normal"
    scalar_loss = True

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        alpha: float = 32.0,
        margin: float = 0.1,
        initializer=None,
        name: str = "proxy_anchor_head",
        **kwargs,
    ):
        self.alpha, self.margin = float(alpha), float(margin)
        super().__init__(num_classes, embedding_dim, initializer=initializer, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="embedding_net")
class ProxyNCAHead(ClassHead):
    """Proxy-NCA (Movshovitz-Attias et al., ICCV 2017): one proxy per class; see
    :func:`~embedding_net.losses.proxy_nca_loss`.

    Args:
        scale: softmax scale ``1/temperature`` (default 9).

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(proxy_nca_loss)
    params = ("scale",)

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        scale: float = 9.0,
        initializer=None,
        name: str = "proxy_nca_head",
        **kwargs,
    ):
        self.scale = float(scale)
        super().__init__(num_classes, embedding_dim, initializer=initializer, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="embedding_net")
class SoftTripleHead(ClassHead):
    """SoftTriple (Qian et al., ICCV 2019): ``num_centers`` centres per class; see
    :func:`~embedding_net.losses.softtriple_loss` (defaults are the paper's: K=10,
    lambda=20, gamma=0.1, tau=0.2, delta=0.01).

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(softtriple_loss)
    params = ("num_centers", "scale", "gamma", "reg_weight", "margin")
    default_initializer = "he_normal"

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
        name: str = "softtriple_head",
        **kwargs,
    ):
        self.scale, self.gamma = float(scale), float(gamma)
        self.reg_weight, self.margin = float(reg_weight), float(margin)
        super().__init__(
            num_classes,
            embedding_dim,
            num_centers=num_centers,
            initializer=initializer,
            name=name,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="embedding_net")
class CenterHead(ClassHead):
    """Center loss (Wen et al., ECCV 2016): one centre per class, initialised at 0 and
    trained by the optimizer; see :func:`~embedding_net.losses.center_loss`. Use it next to
    a discriminative loss (``metric_loss=`` of the training model): alone it collapses the
    embeddings.

    Call: ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = staticmethod(center_loss)
    default_initializer = "zeros"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        initializer=None,
        name: str = "center_head",
        **kwargs,
    ):
        super().__init__(num_classes, embedding_dim, initializer=initializer, name=name, **kwargs)


register_head("proxy-anchor", ProxyAnchorHead)
register_head("proxy-nca", ProxyNCAHead)
register_head("softtriple", SoftTripleHead)
register_head("center", CenterHead)
