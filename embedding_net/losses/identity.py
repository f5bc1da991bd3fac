"""Cross-entropy with label smoothing for identity (classification) heads, as in re-id."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import float32
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.miners.masks import labels_to_int as int_labels


def identity_cross_entropy(
    labels,
    logits,
    label_smoothing: float = 0.1,
    from_logits: bool = True,
):
    """Label-smoothed cross-entropy with integer labels, one value per sample.

    With ``C`` classes and smoothing ``e`` (Szegedy et al. 2016; torchreid's
    ``CrossEntropyLoss``)::

        q_c = (1 - e) [c == y_i] + e / C
        L_i = -sum_c q_c log softmax(z_i)_c

    Args:
        labels: int tensor ``(batch,)`` of class ids in ``[0, C)`` (float ids from Keras are
            cast back; exact below 2**24).
        logits: float tensor ``(batch, C)``: logits (``from_logits=True``) or probabilities.
        label_smoothing: ``e`` in ``[0, 1]``.
        from_logits: whether ``logits`` are logits.

    Returns:
        float32 tensor ``(batch,)``.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing}")
    labels = int_labels(labels)
    logits = float32(logits)
    if len(logits.shape) != 2:
        raise ValueError(f"`logits` must be 2-D (batch, num_classes), got shape {logits.shape}")
    num_classes = logits.shape[-1]
    if from_logits:
        log_prob = ops.log_softmax(logits, axis=-1)
    else:
        log_prob = ops.log(ops.clip(logits, 1e-7, 1.0))
    target = ops.one_hot(labels, num_classes, dtype="float32")
    target = (1.0 - label_smoothing) * target + label_smoothing / num_classes
    return -ops.sum(target * log_prob, axis=-1)


@register_loss("identity-cross-entropy")
@keras.saving.register_keras_serializable(package="embedding_net")
class IdentityCrossEntropy(MetricLoss):
    """Label-smoothed cross-entropy for identity heads; see :func:`identity_cross_entropy`.

    Unlike ``keras.losses.SparseCategoricalCrossentropy``, it takes label smoothing with
    integer labels. Call: ``loss(labels (batch,), logits (batch, num_classes))``.
    """

    fn = staticmethod(identity_cross_entropy)
    in_batch = False  # logits of a class head, not embeddings of a batch

    def __init__(
        self,
        label_smoothing: float = 0.1,
        from_logits: bool = True,
        reduction="sum_over_batch_size",
        name: str = "identity_cross_entropy",
        dtype=None,
    ):
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing}")
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            label_smoothing=label_smoothing,
            from_logits=from_logits,
        )


def identity_softmax_loss(
    labels,
    embeddings,
    weight_matrix,
    label_smoothing: float = 0.1,
    scale: float = 1.0,
):
    """The re-id "ID loss": a bias-free linear classifier on the embeddings, then
    label-smoothed cross-entropy (Luo et al. 2019, "Bag of Tricks"; torchreid's softmax head)::

        z_ic = scale * <x_i, w_c>,   L_i = identity_cross_entropy(y_i, z_i, label_smoothing)

    Unlike CosFace/ArcFace the class weights are not normalised and there is no margin. With
    L2-normalised embeddings (``BaseNetwork(normalize=True)``) the logits are bounded by
    ``scale * |w_c|``: a ``scale`` of 10-30 lets the classifier become confident quickly.

    Args:
        labels: int tensor ``(batch,)`` in ``[0, num_classes)``.
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        weight_matrix: float tensor ``(num_classes, dim)``.
        label_smoothing: ``e`` in ``[0, 1]``; scale: logit multiplier (> 0).

    Returns:
        float32 tensor ``(batch,)``.
    """
    if scale <= 0:
        raise ValueError(f"`scale` must be > 0, got {scale}")
    logits = scale * ops.matmul(float32(embeddings), ops.transpose(float32(weight_matrix)))
    return identity_cross_entropy(labels, logits, label_smoothing=label_smoothing)


@register_loss("identity-softmax")
@keras.saving.register_keras_serializable(package="embedding_net")
class IdentitySoftmaxLoss(ParametricLoss):
    """Deprecated: use :class:`~embedding_net.heads.IdentitySoftmaxHead`. Linear identity
    classifier + label-smoothed cross-entropy, with its own class-weight matrix; see
    :func:`identity_softmax_loss`. The "ID loss" of the strong re-id recipe is now::

        ClassifierTrainingModel(network, IdentitySoftmaxHead(num_classes, scale=16),
                                metric_loss=BatchHardTripletLoss(0.3))

    Args:
        num_classes: number of identities; embedding_dim: embedding size (or ``None``: built
            on attachment / first call).
        label_smoothing: in ``[0, 1]`` (default 0.1, as in the recipe).
        scale: logit multiplier (> 0).
        initializer, reduction, name, dtype: see :class:`ParametricLoss`.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    head_class = "IdentitySoftmaxHead"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        label_smoothing: float = 0.1,
        scale: float = 1.0,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str = "identity_softmax_loss",
        dtype=None,
    ):
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing}")
        if not scale > 0:
            raise ValueError(f"`scale` must be > 0, got {scale}")
        super().__init__(
            num_classes,
            embedding_dim,
            initializer=initializer,
            reduction=reduction,
            name=name,
            dtype=dtype,
            label_smoothing=float(label_smoothing),
            scale=float(scale),
        )
