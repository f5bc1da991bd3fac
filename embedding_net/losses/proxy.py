"""Proxy-based losses: Proxy-Anchor (Kim et al., CVPR 2020) and Proxy-NCA
(Movshovitz-Attias et al., ICCV 2017; Teh et al., ECCV 2020 for the scale).

The functions take the proxies as an argument; the proxies live in the heads
:class:`~embedding_net.heads.ProxyAnchorHead` and :class:`~embedding_net.heads.ProxyNCAHead`.
The loss classes here are deprecated shims (see :mod:`embedding_net.losses.parametric`).
"""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.distances.functional import l2_normalize
from embedding_net.losses.base import register_loss
from embedding_net.losses.pairs import float32, masked_logsumexp
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.miners.masks import labels_to_int as int_labels


def proxy_anchor_loss(labels, embeddings, proxies, alpha: float = 32.0, margin: float = 0.1):
    """Proxy-Anchor loss (a scalar: it is a sum over proxies, not over samples).

    With ``S`` the cosine between embeddings and proxies ``(batch, C)``, ``X_c+`` / ``X_c-``
    the embeddings of / not of class ``c`` and ``P+`` the classes present in the batch::

        L = 1/|P+| sum_{c in P+} log(1 + sum_{x in X_c+} exp(-alpha (S_xc - margin)))
          + 1/C    sum_{c}       log(1 + sum_{x in X_c-} exp( alpha (S_xc + margin)))

    Args:
        labels: int tensor ``(batch,)`` in ``[0, C)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        proxies: float tensor ``(C, dim)``.
        alpha: scale; margin: ``delta``.

    Returns:
        float32 scalar.
    """
    labels = int_labels(labels)
    proxies = float32(proxies)
    sim = ops.matmul(l2_normalize(float32(embeddings)), ops.transpose(l2_normalize(proxies)))
    num_classes = proxies.shape[0]
    positive = ops.transpose(ops.cast(ops.one_hot(labels, num_classes), "bool"))  # (C, B)
    sim_t = ops.transpose(sim)
    pos_term, has_pos = masked_logsumexp(-alpha * (sim_t - margin), positive, axis=1, add_one=True)
    neg_term, _ = masked_logsumexp(
        alpha * (sim_t + margin), ops.logical_not(positive), axis=1, add_one=True
    )
    num_present = ops.maximum(ops.sum(ops.cast(has_pos, "float32")), 1.0)
    return ops.sum(pos_term) / num_present + ops.sum(neg_term) / num_classes


def proxy_nca_loss(labels, embeddings, proxies, scale: float = 9.0):
    """Proxy-NCA loss, one value per sample (pytorch-metric-learning / Proxy-NCA++ form)::

        d_ic = |x_i/|x_i| - p_c/|p_c||^2,    L_i = -log softmax_c(-scale * d_ic)_{y_i}

    The positive proxy stays in the denominator (the original paper removes it; that
    variant can go negative and is rarely used). ``scale = 1/temperature``; Proxy-NCA++
    recommends temperature 1/9.

    Args:
        labels: int tensor ``(batch,)`` in ``[0, C)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        proxies: float tensor ``(C, dim)``.
        scale: softmax scale.

    Returns:
        float32 tensor ``(batch,)``.
    """
    labels = int_labels(labels)
    proxies = float32(proxies)
    cos = ops.matmul(l2_normalize(float32(embeddings)), ops.transpose(l2_normalize(proxies)))
    # for unit vectors |x - p|^2 = 2 - 2 cos; the constant cancels in the softmax but is kept
    logits = -scale * (2.0 - 2.0 * cos)
    target = ops.one_hot(labels, proxies.shape[0], dtype="float32")
    return -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)


@register_loss("proxy-anchor")
@keras.saving.register_keras_serializable(package="embedding_net")
class ProxyAnchorLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.ProxyAnchorHead`. Proxy-Anchor loss with
    its own proxies; see :func:`proxy_anchor_loss`.

    Proxies are initialised He-normal as in the authors' code. Returns a scalar.
    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "ProxyAnchorHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        alpha: float = 32.0,
        margin: float = 0.1,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "proxy_anchor_loss",
        dtype=None,
    ):
        super().__init__(
            num_classes,
            embedding_dim,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            margin=margin,
        )


@register_loss("proxy-nca")
@keras.saving.register_keras_serializable(package="embedding_net")
class ProxyNCALoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.ProxyNCAHead`. Proxy-NCA loss with its
    own proxies; see :func:`proxy_nca_loss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "ProxyNCAHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        scale: float = 9.0,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "proxy_nca_loss",
        dtype=None,
    ):
        super().__init__(
            num_classes,
            embedding_dim,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
            scale=scale,
        )
