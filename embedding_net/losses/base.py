"""The one base class of the losses and the loss-name registry.

:class:`MetricLoss` is Keras' ``LossFunctionWrapper`` shape: every loss is a pure function
``fn(labels, embeddings, ..., **params)`` plus a thin class whose constructor takes the loss's
own arguments first, then Keras' ``reduction, name, dtype``. The class stores its
arguments once; ``get_config`` returns exactly them (``distance``, ``distance_metric``,
``miner`` and ``dtype`` objects serialised here, once). Two differences with Keras' wrapper:
labels and embeddings are passed through unchanged (``(B,)`` labels against ``(B, D)``
embeddings, no rank squeezing), and :meth:`MetricLoss.compute` takes an optional reference
set (a cross-batch memory) for every in-batch loss.
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from embedding_net.distances import deserialize_distance, serialize_distance
from embedding_net.losses.pairs import check_distance, embeddings_float32, float_dtype
from embedding_net.registry import Registry

_PACKAGE = "embedding_net"
_DISTANCE_ARGS = ("distance", "distance_metric")
_HALF_FLOATS = ("float16", "bfloat16")

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
    if key in _DISTANCE_ARGS:
        return serialize_distance(value)
    if key in ("miner", "dtype") and value is not None and not isinstance(value, str):
        return keras.saving.serialize_keras_object(value)
    return value


def _deserialize_arg(key, value):
    if key in _DISTANCE_ARGS:
        return check_distance(deserialize_distance(value), key)
    if key == "miner" and value is not None:
        from embedding_net.miners import get_miner

        # an object (not a name), so that stateful miners (seeded sampling) keep their state
        return get_miner(value)
    if key == "dtype" and isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


class MetricLoss(keras.losses.Loss):
    """Base of every loss of the package: a class wrapping the pure function :attr:`fn`.

    A subclass sets ``fn = staticmethod(the_loss_function)`` and passes its own constructor
    arguments as keywords::

        class CircleLoss(MetricLoss):
            fn = staticmethod(circle_loss)

            def __init__(self, gamma=80.0, margin=0.4, distance="cosine", miner=None,
                         reduction="sum_over_batch_size", name="circle_loss", dtype=None):
                super().__init__(reduction, name, dtype, gamma=gamma, margin=margin,
                                 distance=distance, miner=miner)

    ``distance`` / ``distance_metric`` are validated here (the error lists the valid names),
    miner names become miner objects, and ``get_config`` returns ``name``, ``reduction``,
    ``dtype`` plus exactly these keyword arguments (objects serialised).

    Call conventions: ``loss(labels (B,), embeddings (B, D))`` through Keras (reduction and
    ``sample_weight`` apply); :meth:`compute` for the unreduced value with an optional
    reference set. In-batch losses return per-anchor values ``(B,)``; the
    tensorflow-addons triplet losses a scalar (as tensorflow-addons).

    Args:
        reduction, name, dtype: as ``keras.losses.Loss`` (Keras' order).
        **params: the keyword arguments of :attr:`fn`.
    """

    #: The pure loss function (a ``staticmethod`` in subclasses).
    fn = None
    #: Whether :attr:`fn` takes ``ref_labels`` / ``ref_embeddings`` / ``ref_valid``.
    in_batch: bool = True
    #: tensorflow-addons' convention: a float16/bfloat16 ``y_pred`` gives a result of that
    #: dtype (computed in float32, cast back) when the loss has no explicit ``dtype``.
    returns_input_dtype: bool = False

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **params):
        if self.fn is None:
            raise TypeError(f"{type(self).__name__}: set the class attribute `fn` to the loss")
        dtype = _deserialize_arg("dtype", dtype)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._dtype_arg = dtype
        self._fn_kwargs = {key: _deserialize_arg(key, value) for key, value in params.items()}

    def compute(self, labels, embeddings, ref_labels=None, ref_embeddings=None, ref_valid=None):
        """The loss function on ``(labels, embeddings)`` with this object's parameters.

        Args:
            labels: int (or float) ids ``(B,)``.
            embeddings: float ``(B, D)``.
            ref_labels, ref_embeddings, ref_valid: optional reference rows ``(R,)``,
                ``(R, D)`` and bool ``(R,)`` (cross-batch memory; ``False`` marks an empty
                slot): the anchors are the batch, the candidates the reference rows.

        Returns:
            The unreduced value: float32 ``(B,)`` per anchor, or a scalar for the
            tensorflow-addons triplet losses.
        """
        reference = (ref_labels, ref_embeddings, ref_valid)
        if all(r is None for r in reference):
            return self.fn(labels, embeddings, **self._fn_kwargs)
        if not self.in_batch:
            raise ValueError(
                f"{type(self).__name__} is not an in-batch loss: it takes no reference set"
            )
        return self.fn(
            labels,
            embeddings,
            ref_labels=ref_labels,
            ref_embeddings=ref_embeddings,
            ref_valid=ref_valid,
            **self._fn_kwargs,
        )

    def call(self, y_true, y_pred):
        return self.compute(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        value = super().__call__(y_true, y_pred, sample_weight=sample_weight)
        if self.returns_input_dtype and self._dtype_arg is None:
            dtype = float_dtype(y_pred)
            if dtype in _HALF_FLOATS:
                value = ops.cast(value, dtype)
        return value

    def get_config(self) -> dict:
        config = super().get_config()
        config["dtype"] = _serialize_arg("dtype", self._dtype_arg)
        config.update({k: _serialize_arg(k, v) for k, v in self._fn_kwargs.items()})
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config.pop("fn", None)
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._fn_kwargs.items())
        return f"{type(self).__name__}({args})"


def prepare_embeddings(y_pred):
    """Deprecated: use :func:`embedding_net.losses.pairs.embeddings_float32` (same result)."""
    warnings.warn(
        "embedding_net.losses.base.prepare_embeddings is deprecated; use "
        "embedding_net.losses.pairs.embeddings_float32",
        DeprecationWarning,
        stacklevel=2,
    )
    return embeddings_float32(y_pred)
