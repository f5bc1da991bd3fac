"""Cross-batch memory (XBM; Wang et al., CVPR 2020) around a pair-based loss."""

from __future__ import annotations

import inspect

import keras
from keras import ops

from embedding_net.losses._modern_common import float32, int_labels
from embedding_net.losses.base import get as get_loss
from embedding_net.losses.base import register_loss
from embedding_net.losses.parametric import ParametricLoss


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

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config["memory_size"] = self.memory_size
        return config


@keras.saving.register_keras_serializable(package="embedding_net")
class XBMLoss(ParametricLoss):
    """Cross-batch memory: the wrapped loss also compares the batch with past batches.

    ::

        L_i = loss(batch, batch)_i + memory_weight * loss(batch, memory)_i

    then the batch (without gradient) replaces the oldest memory entries. Memory entries
    are frozen embeddings of earlier steps, as in the paper; empty slots are ignored.

    The wrapped loss must accept a reference set: :class:`MultiSimilarityLoss`,
    :class:`CircleLoss`, :class:`NTXentLoss` / :class:`InfoNCELoss`,
    :class:`SupervisedContrastiveLoss` (any loss whose function takes ``ref_labels``,
    ``ref_embeddings`` and ``ref_valid``). Labels must be non-negative ids.

    Backends: the memory lives in non-trainable variables of ``loss.layer``, updated inside
    the loss call. On TensorFlow and torch that works once the layer is built. Under JAX
    training (stateless) the update is kept only if ``loss.layer`` belongs to the model
    (``BaseNetwork.compile``, :class:`LossParametersMixin` or
    :func:`attach_loss_parameters`), because the JAX trainer carries the model's
    non-trainable variables from step to step; attach it on every backend.

    Args:
        loss: the wrapped loss: a loss object, its serialized config, or a registered name
            (``"multi-similarity"``, built with ``loss_params``; what a YAML config can give).
        loss_params: constructor arguments when ``loss`` is a name (e.g. ``{"alpha": 2.0}``).
        memory_size: number of stored embeddings (>= batch size).
        embedding_dim: embedding size (or ``None``: built on attachment / first call).
        memory_weight: weight of the memory term (the paper's lambda).
        reduction, name, dtype: as in ``keras.losses.Loss``.
    """

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
        if loss_params is not None and not isinstance(loss, str):
            raise ValueError(
                "XBMLoss: `loss_params` is for a loss given by name; got a "
                f"{type(loss).__name__} as `loss`"
            )
        if isinstance(loss, str):
            params = {} if loss_params is None else loss_params
            if not isinstance(params, dict):
                raise ValueError(f"XBMLoss: `loss_params` must be a dict, got {params!r}")
            try:
                loss = get_loss(loss, **params)
            except TypeError as exc:
                raise ValueError(f"XBMLoss: loss_params of {loss!r}: {exc}") from None
        elif isinstance(loss, dict):
            loss = keras.losses.deserialize(loss)
        fn = getattr(loss, "fn", None)
        if not callable(fn) or "ref_embeddings" not in inspect.signature(fn).parameters:
            raise ValueError(
                "XBMLoss: `loss` must be a pair-based loss that accepts a reference set "
                "(MultiSimilarityLoss, CircleLoss, NTXentLoss, InfoNCELoss, "
                f"SupervisedContrastiveLoss), got {type(loss).__name__}"
            )
        if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size <= 0:
            raise ValueError(f"`memory_size` must be a positive int, got {memory_size!r}")
        self.inner_loss = loss
        self.memory_size = memory_size
        self.memory_weight = memory_weight
        super().__init__(1, embedding_dim, reduction=reduction, name=name, dtype=dtype)

    def make_layer(self) -> keras.layers.Layer:
        return CrossBatchMemory(self.memory_size, name=f"{self.name}_memory", dtype="float32")

    def call(self, y_true, y_pred):
        batch = y_pred.shape[0]
        if batch is not None and batch > self.memory_size:
            raise ValueError(
                f"XBMLoss: batch size {batch} exceeds `memory_size` {self.memory_size}"
            )
        self.build(y_pred.shape[-1])
        self._warn_if_detached()
        labels = int_labels(y_true)
        x = float32(y_pred)
        fn, kwargs = self.inner_loss.fn, self.inner_loss._fn_kwargs
        memory = self.layer
        mem_labels = ops.convert_to_tensor(memory.labels)
        mem_embeddings = ops.stop_gradient(float32(memory.embeddings))
        batch_loss = fn(labels, x, **kwargs)
        memory_loss = fn(
            labels,
            x,
            ref_labels=mem_labels,
            ref_embeddings=mem_embeddings,
            ref_valid=ops.greater_equal(mem_labels, 0),
            **kwargs,
        )
        memory.enqueue(labels, ops.stop_gradient(x))
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


register_loss("xbm", XBMLoss)
