"""ClassifierTrainingModel: an embedding network trained with a class head and/or a metric
loss, optionally with a cross-batch memory."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from embedding_net.compiling import compile_from_config
from embedding_net.distribute import gather_global_batch, num_replicas_in_sync
from embedding_net.heads.base import ClassHead
from embedding_net.losses.pairs import float32
from embedding_net.losses.parametric import ParametricLoss, find_parametric_losses
from embedding_net.losses.xbm import (
    CrossBatchMemory,
    _check_memory_size,
    _reference_values,
    resolve_reference_loss,
)
from embedding_net.miners.masks import labels_to_int as int_labels
from embedding_net.models.replicas import returns_scalar


class _ValuesLoss(keras.losses.Loss):
    """Reduces per-sample values of a callable ``fn(y_true, y_pred)`` as Keras reduces a
    loss's (``sample_weight``, masks, distribution scaling); not serialised (the model is)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name, dtype="float32")
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def _weight(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(
            f"ClassifierTrainingModel: `{argument}` must be a float >= 0, got {value!r}"
        )
    return float(value)


@keras.saving.register_keras_serializable(package="embedding_net")
class ClassifierTrainingModel(keras.Model):
    """Trains an embedding network with a class head (ArcFace, CosFace, proxies, centres),
    an in-batch metric loss, or both; the head's weights and the memory are layers of this
    model, so any optimizer trains them and ``save`` / ``keras.saving.load_model`` keep them::

        net = BaseNetwork("resnet50", embedding_dim=256)
        model = ClassifierTrainingModel(
            net, CosFaceHead(num_classes), metric_loss=BatchHardTripletLoss(0.3)
        )
        model.compile(optimizer="adam")          # no loss=: the model holds its losses
        model.fit(images, labels)
        model.network.save("network.keras")      # the inference network

    The loss of a batch with labels ``y`` and embeddings ``e = network(x)`` is::

        metric_weight * (metric_loss(y, e) + memory_weight * metric_loss(y, e; memory))
          + head_weight * head(e, y)  [+ losses added by layers]

    each term reduced as Keras reduces a loss (``sum_over_batch_size``: mean over the batch,
    ``sample_weight`` applied). With a ``memory``, each training batch (without gradient)
    then replaces the oldest memory entries (evaluation leaves the memory alone). The terms
    are logged as ``metric_loss`` and ``head_loss`` next to ``loss``. Under a
    ``tf.distribute`` strategy the loss sees the global batch when the network has
    ``global_batch_loss`` (as :class:`BaseNetwork` does).

    ``predict`` / ``encode`` return the network's embeddings.

    Args:
        network: the embedding network (a :class:`BaseNetwork` or any keras.Model images ->
            embeddings ``(batch, dim)``).
        head: a :class:`~embedding_net.heads.ClassHead` (built here from the network's
            output size), or None.
        metric_loss: an in-batch ``keras.losses.Loss`` on ``(labels, embeddings)`` (e.g.
            ``BatchHardTripletLoss``, a :class:`~embedding_net.losses.CombinedLoss`), or None.
        memory: a :class:`~embedding_net.losses.CrossBatchMemory` extending ``metric_loss``
            to past batches (XBM); the loss must accept a reference set.
        head_weight, metric_weight, memory_weight: the weights above (>= 0).
        name: model name.
    """

    def __init__(
        self,
        network,
        head=None,
        metric_loss=None,
        memory=None,
        head_weight: float = 1.0,
        metric_weight: float = 1.0,
        memory_weight: float = 1.0,
        name: str = "classifier_training_model",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not isinstance(network, keras.Model):
            raise ValueError(
                f"network must be a keras.Model (e.g. BaseNetwork), got {type(network).__name__}"
            )
        _check_parts(head, metric_loss, memory)
        if memory is not None:
            metric_loss = resolve_reference_loss(metric_loss, owner="ClassifierTrainingModel")
        self.network = network
        self.head = head
        self.metric_loss = metric_loss
        self.memory = memory
        self.head_weight = _weight(head_weight, "head_weight")
        self.metric_weight = _weight(metric_weight, "metric_weight")
        self.memory_weight = _weight(memory_weight, "memory_weight")
        self.head_loss_tracker = keras.metrics.Mean(name="head_loss") if head is not None else None
        self.metric_loss_tracker = (
            keras.metrics.Mean(name="metric_loss") if metric_loss is not None else None
        )
        self._head_loss = _ValuesLoss(lambda y, e: self.head(e, y), name="head_loss")
        self._memory_loss = _ValuesLoss(
            self._memory_values,
            reduction=getattr(metric_loss, "reduction", "sum_over_batch_size"),
            name="memory_loss",
        )
        self._build_parts()
        # built once its parts are: the optimizer can be built (and its state loaded) at once
        self.built = bool(network.built)

    def _build_parts(self):
        dim = _output_dim(self.network)
        for layer in (self.head, self.memory):
            if layer is not None and not layer.built:
                if dim is None:
                    raise ValueError(
                        "ClassifierTrainingModel: the network's embedding size is unknown; "
                        f"build {type(layer).__name__} yourself (head.build((None, dim)))"
                    )
                layer.build((None, dim))

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """``keras.Model.compile`` without ``loss``: the model holds its losses."""
        if loss is not None:
            raise ValueError(
                "ClassifierTrainingModel holds its losses (head=, metric_loss=, memory=); "
                "call compile() without loss="
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        compile_from_config(self, config)

    def _memory_values(self, labels, embeddings):
        return _reference_values(self.metric_loss, labels, embeddings, *self.memory.reference())

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        replicas = num_replicas_in_sync()
        if replicas > 1 and getattr(self.network, "global_batch_loss", True):
            y, y_pred, sample_weight = gather_global_batch(y, y_pred, sample_weight)
        total = ops.zeros((), "float32")
        if self.metric_loss is not None:
            term = _per_replica(self.metric_loss, y, y_pred, sample_weight, replicas)
            if self.memory is not None:
                _check_memory_size(y_pred.shape[0], self.memory.memory_size, self.name)
                memory = _per_replica(self._memory_loss, y, y_pred, sample_weight, replicas)
                term = term + self.memory_weight * memory
                if training:
                    self.memory.enqueue(int_labels(y), ops.stop_gradient(float32(y_pred)))
            self.metric_loss_tracker.update_state(term)
            total = total + self.metric_weight * term
        if self.head is not None:
            term = _per_replica(self._head_loss, y, y_pred, sample_weight, replicas)
            self.head_loss_tracker.update_state(term)
            total = total + self.head_weight * term
        for extra in self.losses:
            total = total + ops.cast(extra, "float32")
        return total

    def encode(self, images, batch_size: int = 64, verbose="auto") -> np.ndarray:
        """Embeddings from the network (see :meth:`BaseNetwork.encode`)."""
        if hasattr(self.network, "encode"):
            return self.network.encode(images, batch_size=batch_size, verbose=verbose)
        return np.asarray(self.network.predict(images, batch_size=batch_size, verbose=0))

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        def serialize(obj):
            return None if obj is None else keras.saving.serialize_keras_object(obj)

        return {
            "network": serialize(self.network),
            "head": serialize(self.head),
            "metric_loss": serialize(self.metric_loss),
            "memory": serialize(self.memory),
            "head_weight": self.head_weight,
            "metric_weight": self.metric_weight,
            "memory_weight": self.memory_weight,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("network", "head", "metric_loss", "memory"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _check_parts(head, metric_loss, memory) -> None:
    if head is None and metric_loss is None:
        raise ValueError("ClassifierTrainingModel: give a `head`, a `metric_loss` or both")
    if isinstance(head, ParametricLoss):
        raise ValueError(
            f"ClassifierTrainingModel: `head` must be a layer of embedding_net.heads, got the "
            f"deprecated loss {type(head).__name__}; pass its head ({type(head).__name__}"
            "(...).layer) or build one, e.g. embedding_net.heads.CosFaceHead(num_classes)"
        )
    if head is not None and not isinstance(head, ClassHead):
        raise ValueError(
            "ClassifierTrainingModel: `head` must be an embedding_net.heads.ClassHead, got "
            f"{type(head).__name__}"
        )
    if metric_loss is not None:
        if not isinstance(metric_loss, keras.losses.Loss):
            raise ValueError(
                "ClassifierTrainingModel: `metric_loss` must be a keras.losses.Loss, got "
                f"{type(metric_loss).__name__}"
            )
        owners = find_parametric_losses(metric_loss)
        if owners:
            raise ValueError(
                f"ClassifierTrainingModel: `metric_loss` holds {type(owners[0]).__name__}, "
                "a loss with its own weights; give its head as `head=` instead"
            )
    if memory is not None:
        if not isinstance(memory, CrossBatchMemory):
            raise ValueError(
                "ClassifierTrainingModel: `memory` must be a CrossBatchMemory, got "
                f"{type(memory).__name__}"
            )
        if metric_loss is None:
            raise ValueError("ClassifierTrainingModel: a `memory` extends `metric_loss`; give one")


def _output_dim(network):
    try:
        shape = network.output_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    if not isinstance(shape, (list, tuple)) or not shape or isinstance(shape[0], (list, tuple)):
        return None
    return shape[-1]


def _per_replica(loss, y, y_pred, sample_weight, replicas: int):
    """``loss(y, y_pred, sample_weight)``; a scalar-valued loss (Proxy-Anchor) is divided by
    the replica count, which Keras does only for per-sample values (see BaseNetwork)."""
    value = loss(y, y_pred, sample_weight=sample_weight)
    if replicas > 1 and returns_scalar(loss, y, y_pred):
        value = value / replicas
    return value
