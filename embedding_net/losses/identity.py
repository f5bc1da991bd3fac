"""Cross-entropy with label smoothing for identity (classification) heads, as in re-id."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses._modern_common import FunctionLoss, float32, int_labels
from embedding_net.losses.base import register_loss


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


@keras.saving.register_keras_serializable(package="embedding_net")
class IdentityCrossEntropy(FunctionLoss):
    """Label-smoothed cross-entropy for identity heads; see :func:`identity_cross_entropy`.

    Unlike ``keras.losses.SparseCategoricalCrossentropy``, it takes label smoothing with
    integer labels. Call: ``loss(labels (batch,), logits (batch, num_classes))``.
    """

    fn = staticmethod(identity_cross_entropy)

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


register_loss("identity-cross-entropy", IdentityCrossEntropy)
