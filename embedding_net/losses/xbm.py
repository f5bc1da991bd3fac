"""Cross-batch memory (XBM; Wang et al., CVPR 2020) around an in-batch loss.

:class:`CrossBatchMemory` is a layer (a ring buffer in non-trainable variables); give it to
:class:`~embedding_net.models.ClassifierTrainingModel` as ``memory=`` next to the
``metric_loss`` it extends: the model adds ``memory_weight * loss(batch, memory)`` and
enqueues each training batch. :class:`XBMLoss` (the memory inside a loss) is deprecated.
"""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.base import get as get_loss
from embedding_net.losses.pairs import float32
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.miners.masks import labels_to_int as int_labels


@keras.saving.register_keras_serializable(package="embedding_net")
class CrossBatchMemory(keras.layers.Layer):
    """Ring buffer of past embeddings and labels (non-trainable variables).

    Variables: ``embeddings (memory_size, dim)`` float32, ``labels (memory_size,)`` int32
    (-1 marks an empty slot) and ``pointer ()`` int32, the next slot to write.

    Args:
        memory_size: number of stored embeddings.
        **kwargs: ``keras.layers.Layer`` arguments.
    """

    def __init__(self, memory_size: int, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.memory_size = int(memory_size)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.embeddings = self.add_weight(
            shape=(self.memory_size, dim), initializer="zeros", trainable=False, name="embeddings"
        )
        self.labels = self.add_weight(
            shape=(self.memory_size,),
            initializer=keras.initializers.Constant(-1),
            dtype="int32",
            trainable=False,
            name="labels",
        )
        self.pointer = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False, name="pointer"
        )

    def enqueue(self, labels, embeddings):
        """Write ``labels (B,)`` and ``embeddings (B, dim)`` at the pointer, wrapping around."""
        batch = ops.shape(labels)[0]
        index = ops.mod(ops.arange(batch, dtype="int32") + self.pointer, self.memory_size)
        index = ops.expand_dims(index, 1)
        self.embeddings.assign(ops.scatter_update(self.embeddings, index, embeddings))
        self.labels.assign(ops.scatter_update(self.labels, index, labels))
        self.pointer.assign(ops.mod(self.pointer + ops.cast(batch, "int32"), self.memory_size))

    def reference(self):
        """``(labels int32 (memory_size,), embeddings float32 (memory_size, dim) without
        gradient, valid bool (memory_size,))``: the stored entries as a reference set."""
        labels = ops.convert_to_tensor(self.labels)
        embeddings = ops.stop_gradient(float32(self.embeddings))
        return labels, embeddings, ops.greater_equal(labels, 0)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config["memory_size"] = self.memory_size
        return config


def resolve_reference_loss(loss, loss_params: dict | None = None, owner: str = "XBM"):
    """The in-batch loss a cross-batch memory extends, validated.

    Args:
        loss: a loss object, its serialised config, or a registered name (built with
            ``loss_params``; what a YAML config can give).
        loss_params: constructor arguments when ``loss`` is a name.
        owner: named in error messages.

    Raises:
        ValueError: unknown name, bad ``loss_params``, or a loss that cannot compare a batch
            with a reference set.
    """
    if loss_params is not None and not isinstance(loss, str):
        raise ValueError(
            f"{owner}: `loss_params` is for a loss given by name; got a "
            f"{type(loss).__name__} as `loss`"
        )
    if isinstance(loss, str):
        params = {} if loss_params is None else loss_params
        if not isinstance(params, dict):
            raise ValueError(f"{owner}: `loss_params` must be a dict, got {params!r}")
        try:
            loss = get_loss(loss, **params)
        except TypeError as exc:
            raise ValueError(f"{owner}: loss_params of {loss!r}: {exc}") from None
    elif isinstance(loss, dict):
        loss = keras.losses.deserialize(loss)
    if not _accepts_reference(loss):
        raise ValueError(
            f"{owner}: `loss` must be an in-batch loss that accepts a reference set "
            "(MultiSimilarityLoss, CircleLoss, NTXentLoss, InfoNCELoss, "
            f"SupervisedContrastiveLoss, ...), got {type(loss).__name__}"
        )
    return loss


def _accepts_reference(loss) -> bool:
    """Whether ``loss`` can compare a batch with a reference set: an in-batch
    :class:`MetricLoss`, or any loss with a ``compute(labels, embeddings, *, ref_labels,
    ref_embeddings, ref_valid)`` method."""
    if isinstance(loss, MetricLoss):
        return loss.in_batch
    return callable(getattr(loss, "compute", None))


def _reference_values(loss, labels, embeddings, ref_labels, ref_embeddings, ref_valid):
    """Per-anchor values of the in-batch ``loss`` between a batch and a reference set."""
    return loss.compute(
        labels,
        embeddings,
        ref_labels=ref_labels,
        ref_embeddings=ref_embeddings,
        ref_valid=ref_valid,
    )


def _check_memory_size(batch, memory_size: int, owner: str) -> None:
    if batch is not None and batch > memory_size:
        raise ValueError(f"{owner}: batch size {batch} exceeds `memory_size` {memory_size}")


@register_loss("xbm")
@keras.saving.register_keras_serializable(package="embedding_net")
class XBMLoss(ParametricLoss):
    """Deprecated: give a :class:`CrossBatchMemory` to
    :class:`~embedding_net.models.ClassifierTrainingModel` (``memory=``) instead.

    Cross-batch memory as a loss: the wrapped loss also compares the batch with past
    batches::

        L_i = loss(batch, batch)_i + memory_weight * loss(batch, memory)_i

    then the batch (without gradient) replaces the oldest memory entries. The memory lives
    in ``loss.layer``; it is updated on every call (eager use, or TensorFlow graphs), but
    no model tracks it, so it is neither saved nor carried by JAX's stateless trainer.

    Args:
        loss: the wrapped loss (object, config or registered name, see
            :func:`resolve_reference_loss`).
        memory_size: number of stored embeddings (>= batch size).
        embedding_dim: embedding size (or ``None``: built on the first call).
        memory_weight: weight of the memory term (the paper's lambda).
        reduction, name, dtype: as in ``keras.losses.Loss``.
        loss_params: constructor arguments when ``loss`` is a name.
    """

    replacement = "embedding_net.losses.CrossBatchMemory (memory=)"

    def __init__(
        self,
        loss,
        memory_size: int = 1024,
        embedding_dim: int | None = None,
        memory_weight: float = 1.0,
        reduction="sum_over_batch_size",
        name: str = "xbm_loss",
        dtype=None,
        loss_params: dict | None = None,
    ):
        loss = resolve_reference_loss(loss, loss_params, "XBMLoss")
        if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size <= 0:
            raise ValueError(f"`memory_size` must be a positive int, got {memory_size!r}")
        self.inner_loss = loss
        self.memory_size = memory_size
        self.memory_weight = memory_weight
        super().__init__(1, embedding_dim, reduction=reduction, name=name, dtype=dtype)

    def make_layer(self) -> keras.layers.Layer:
        return CrossBatchMemory(self.memory_size, name=f"{self.name}_memory", dtype="float32")

    def call(self, y_true, y_pred):
        _check_memory_size(y_pred.shape[0], self.memory_size, "XBMLoss")
        self.build(y_pred.shape[-1])
        labels = int_labels(y_true)
        x = float32(y_pred)
        batch_loss = self.inner_loss.call(labels, x)
        memory_loss = _reference_values(self.inner_loss, labels, x, *self.layer.reference())
        self.layer.enqueue(labels, ops.stop_gradient(x))
        return batch_loss + self.memory_weight * memory_loss

    def get_config(self):
        return {
            "loss": keras.losses.serialize(self.inner_loss),
            "memory_size": self.memory_size,
            "embedding_dim": self.embedding_dim,
            "memory_weight": self.memory_weight,
            "reduction": self.reduction,
            "name": self.name,
            "dtype": self._dtype_arg,
        }
