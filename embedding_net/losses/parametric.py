"""Losses that own trainable weights (class proxies, class-weight matrices, centres).

Protocol: a :class:`ParametricLoss` keeps its variables in ``loss.layer``, a
:class:`LossParameters` Keras layer. The layer must become part of the model so that the
optimizer trains the variables and ``.keras`` files save them:
``embedding_net.BaseNetwork.compile(loss=...)`` does this itself; a subclassed model can
inherit :class:`LossParametersMixin` (first base) to get the same; with any other
``keras.Model`` call :func:`attach_loss_parameters` before ``compile``/``fit``.

Saving: a ``.keras`` file stores the loss layer's weights with the model's. On loading,
Keras rebuilds the model, then compiles it from its compile config (a fresh loss with
fresh weights), then loads the weights. Only a model that attaches the fresh loss while
compiling (``BaseNetwork``, :class:`LossParametersMixin`) gets its loss weights back by
``keras.saving.load_model``. A plain functional/sequential model silently drops them;
restore them with::

    model = keras.saving.load_model(path)
    attach_loss_parameters(model, model.loss)
    model.load_weights(path)
"""

from __future__ import annotations

import inspect
import logging

import keras

from embedding_net.compiling import compile_from_config
from embedding_net.losses._modern_common import float32

_LOG = logging.getLogger(__name__)

#: Attribute under which :func:`attach_loss_parameters` stores the loss layer on a model.
LOSS_LAYER_ATTRIBUTE = "loss_layer"


@keras.saving.register_keras_serializable(package="embedding_net")
class LossParameters(keras.layers.Layer):
    """Holds a loss's weight matrix ``(num_classes * num_centers, embedding_dim)``.

    Rows ``c * num_centers + k`` are the ``k``-th proxy/centre of class ``c``. Calling the
    layer returns its input unchanged: the loss reads ``layer.weight_matrix`` directly.

    Args:
        num_classes: number of classes ``C`` (> 0).
        num_centers: proxies per class ``K`` (> 0).
        initializer: Keras initializer of the matrix.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``trainable``, ``dtype``).
    """

    def __init__(
        self, num_classes: int, num_centers: int = 1, initializer="random_normal", **kwargs
    ):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.num_centers = int(num_centers)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.weight_matrix = self.add_weight(
            shape=(self.num_classes * self.num_centers, int(input_shape[-1])),
            initializer=self.initializer,
            name="weight_matrix",
        )

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "num_centers": self.num_centers,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config


def _positive_int(value, argument: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{argument}` must be a positive int, got {value!r}")
    return value


class ParametricLoss(keras.losses.Loss):
    """Base class of the losses with trainable weights.

    Subclasses set ``fn``, a function ``fn(labels, embeddings, weight_matrix, **kwargs)``
    (a staticmethod), and pass their own constructor arguments as keyword arguments;
    ``get_config`` returns exactly the constructor arguments.

    Args:
        num_classes: number of classes (labels must lie in ``[0, num_classes)``).
        embedding_dim: embedding size; the weights are built at once when given, otherwise
            by :func:`attach_loss_parameters` (from the model's output) or on the first
            eager call.
        num_centers: proxies/centres per class.
        initializer: Keras initializer of the weight matrix.
        reduction, name, dtype: as in ``keras.losses.Loss``.
    """

    fn = None
    layer_initializer = "random_normal"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        num_centers: int = 1,
        initializer=None,
        reduction="sum_over_batch_size",
        name: str | None = None,
        dtype=None,
        **fn_kwargs,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._fn_kwargs = fn_kwargs
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", allow_none=True)
        self.num_centers = _positive_int(num_centers, "num_centers")
        self.initializer = initializer
        self._dtype_arg = dtype
        self.layer = self.make_layer()
        if embedding_dim is not None:
            self.layer.build((None, embedding_dim))

    def make_layer(self) -> keras.layers.Layer:
        """The layer holding this loss's variables (override for other variables)."""
        initializer = self.initializer if self.initializer is not None else self.layer_initializer
        return LossParameters(
            self.num_classes,
            self.num_centers,
            initializer=initializer,
            name=f"{self.name}_parameters",
            dtype="float32",
        )

    def build(self, embedding_dim: int):
        """Create the variables for embeddings of size ``embedding_dim`` (once)."""
        if not self.layer.built:
            self.embedding_dim = _positive_int(int(embedding_dim), "embedding_dim")
            self.layer.build((None, self.embedding_dim))

    @property
    def weight_matrix(self):
        """The trainable ``(num_classes * num_centers, embedding_dim)`` matrix."""
        return self.layer.weight_matrix

    def _warn_if_detached(self):
        if not getattr(self.layer, "_attached_to_model", False) and not getattr(
            self, "_warned_detached", False
        ):
            self._warned_detached = True
            _LOG.warning(
                "%s: its weights are not attached to a model, so fit() will neither train "
                "nor save them; use BaseNetwork, LossParametersMixin or "
                "attach_loss_parameters(model, loss) before compile()",
                type(self).__name__,
            )

    def call(self, y_true, y_pred):
        self.build(y_pred.shape[-1])
        self._warn_if_detached()
        return type(self).fn(y_true, y_pred, float32(self.weight_matrix), **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim,
                "num_centers": self.num_centers,
                "initializer": (
                    self.initializer
                    if self.initializer is None or isinstance(self.initializer, str)
                    else keras.initializers.serialize(keras.initializers.get(self.initializer))
                ),
                "dtype": self._dtype_arg,
            }
        )
        config.update(self._fn_kwargs)
        if "num_centers" not in inspect.signature(type(self).__init__).parameters:
            config.pop("num_centers")
        return config


def _model_embedding_dim(model):
    try:
        shape = model.output_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return None
    return shape[-1] if shape else None


def attach_loss_parameters(model: keras.Model, loss, attribute: str = LOSS_LAYER_ATTRIBUTE):
    """Make ``loss``'s weights part of ``model`` (trained by its optimizer, saved with it).

    Sets ``model.<attribute> = loss.layer`` (a tracked sub-layer) after building the layer,
    from ``loss.embedding_dim`` or the model's output size. Call it before ``compile``.

    Args:
        model: any ``keras.Model``.
        loss: a :class:`ParametricLoss`.
        attribute: attribute name on the model (default ``"loss_layer"``).

    Returns:
        The attached layer.

    Raises:
        ValueError: ``loss`` is not a :class:`ParametricLoss`, or the embedding size is
            unknown (give ``embedding_dim=`` to the loss).
    """
    if not isinstance(loss, ParametricLoss):
        raise ValueError(
            f"attach_loss_parameters: `loss` must be a ParametricLoss, got {type(loss).__name__}"
        )
    if not loss.layer.built:
        dim = loss.embedding_dim or _model_embedding_dim(model)
        if dim is None:
            raise ValueError(
                "attach_loss_parameters: the embedding size is unknown; pass `embedding_dim=` "
                f"to {type(loss).__name__} or build the model first"
            )
        loss.build(dim)
    tracker = getattr(model, "_tracker", None)
    locked = bool(getattr(tracker, "locked", False))
    if locked:  # a built model refuses new sub-layers unless its tracker is unlocked
        tracker.unlock()
    try:
        setattr(model, attribute, loss.layer)
    finally:
        if locked:
            tracker.lock()
    loss.layer._attached_to_model = True
    return loss.layer


def attach_compiled_losses(model: keras.Model, loss) -> list:
    """Attach every :class:`ParametricLoss` found in ``loss`` (a loss or a list/dict, also
    inside composite losses that hold their parts in a ``losses`` attribute, such as the
    config system's ``WeightedLossSum``).

    The first goes to ``model.loss_layer``, the next ones to ``model.loss_layer_1``, ...

    Returns:
        The attached layers.
    """
    losses = list(_parametric_parts(loss))
    return [
        attach_loss_parameters(
            model, item, LOSS_LAYER_ATTRIBUTE if i == 0 else f"{LOSS_LAYER_ATTRIBUTE}_{i}"
        )
        for i, item in enumerate(losses)
    ]


def _parametric_parts(loss):
    for item in keras.tree.flatten(loss):
        if isinstance(item, ParametricLoss):
            yield item
        elif isinstance(getattr(item, "losses", None), (list, tuple)):
            yield from _parametric_parts(list(item.losses))


class LossParametersMixin:
    """Mixin for ``keras.Model`` subclasses: ``compile`` attaches parametric losses.

    Put it first: ``class Net(LossParametersMixin, keras.Model)``. It also overrides
    ``compile_from_config``, because Keras skips compiling a loaded model whose ``compile``
    is overridden; with it, ``keras.saving.load_model`` restores the loss weights (a compile
    config that cannot be deserialized, e.g. an unregistered optimizer, leaves the model
    loaded but uncompiled, with a warning, as for ``BaseNetwork``).
    """

    def compile(self, *args, **kwargs):
        loss = kwargs.get("loss", args[1] if len(args) > 1 else None)
        if loss is not None:
            attach_compiled_losses(self, loss)
        super().compile(*args, **kwargs)

    def compile_from_config(self, config):
        compile_from_config(self, config)
