"""Base class of the metric-learning losses and the loss-name registry.

``MetricLoss`` is Keras' ``LossFunctionWrapper`` shape (a class storing the keyword arguments of
a plain function) with two differences: labels and embeddings are passed through unchanged
(``(B,)`` labels against ``(B, D)`` embeddings, no rank squeezing), and ``distance`` /
``miner`` / ``distance_metric`` objects are serialised in ``get_config``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from embedding_net.distances import deserialize_distance, serialize_distance
from embedding_net.registry import Registry

_PACKAGE = "embedding_net"
_OBJECT_ARGS = ("distance", "distance_metric", "miner")

# loss name -> class; filled by register_loss() calls next to each class
LOSSES = Registry("loss")


def register_loss(name: str, cls: type | None = None, *, aliases=()):
    """Register a loss class under ``name`` for :func:`embedding_net.losses.get`.

    Usable as ``register_loss("triplet-hard", TripletHardLoss)`` or as a class decorator
    ``@register_loss("triplet-hard")``.
    """
    return LOSSES.register(name, cls, aliases=aliases)


def available_losses() -> list[str]:
    """Registered loss names accepted by :func:`get`."""
    return LOSSES.names()


def get(identifier, **kwargs):
    """Resolve a loss identifier to a ``keras.losses.Loss``.

    Args:
        identifier: a registered name (see :func:`available_losses`; ``_`` may replace ``-``),
            a class name (``"TripletSemiHardLoss"``), a ``keras.losses.Loss`` instance, or a
            serialised config dict.
        **kwargs: constructor arguments when ``identifier`` is a name.

    Raises:
        ValueError: unknown identifier; the message lists the valid names.
    """
    if isinstance(identifier, keras.losses.Loss):
        return identifier
    if isinstance(identifier, dict):
        return keras.losses.deserialize(identifier)
    cls = LOSSES.lookup(identifier) if isinstance(identifier, str) else None
    if cls is not None:
        return cls(**kwargs)
    raise LOSSES.unknown(identifier, "a loss class name, a keras.losses.Loss or a config dict")


def _serialize_arg(key, value):
    if key in ("distance", "distance_metric"):
        return serialize_distance(value)
    if key == "miner" and value is not None and not isinstance(value, str):
        return keras.saving.serialize_keras_object(value)
    return value


def _deserialize_arg(key, value):
    if key in ("distance", "distance_metric"):
        return deserialize_distance(value)
    if key == "miner" and isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


class MetricLoss(keras.losses.Loss):
    """A loss class wrapping a function ``fn(y_true, y_pred, **kwargs)``.

    Subclasses call ``super().__init__(fn, name=..., reduction=..., dtype=..., **fn_kwargs)``;
    ``get_config`` returns the base config plus ``fn_kwargs`` (distances and miners
    serialised), which are exactly the constructor arguments.
    """

    def __init__(
        self,
        fn: Callable,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        dtype=None,
        **fn_kwargs,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = {k: _deserialize_arg(k, v) for k, v in fn_kwargs.items()}

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({k: _serialize_arg(k, v) for k, v in self._fn_kwargs.items()})
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config.pop("fn", None)
        return cls(**{k: _deserialize_arg(k, v) for k, v in config.items()})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._fn_kwargs.items())
        return f"{type(self).__name__}({args})"


def prepare_embeddings(y_pred):
    """Embeddings as float32 ``(B, D)`` plus their original dtype (float16/bfloat16 inputs are
    computed in float32, as tensorflow-addons does)."""
    embeddings = ops.convert_to_tensor(y_pred)
    if len(embeddings.shape) != 2:
        raise ValueError(
            f"`y_pred` must be embeddings of shape (batch, dim), got shape {embeddings.shape}"
        )
    dtype = embeddings.dtype
    if "float" not in str(dtype):
        dtype = "float32"
    return ops.cast(embeddings, "float32"), dtype
