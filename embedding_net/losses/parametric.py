"""Deprecated: losses that own trainable weights (class weights, proxies, centres).

Class weights now live in layers: the heads of :mod:`embedding_net.heads`
(``CosFaceHead``, ``ProxyAnchorHead``, ...) inside a
:class:`~embedding_net.models.ClassifierTrainingModel`, which any optimizer trains and
``keras.saving.load_model`` restores. The loss classes below (``ArcFaceLoss``,
``CosFaceLoss``, ``ProxyAnchorLoss``, ...) are kept for one release: each warns when built,
keeps its head in ``loss.layer`` and computes the same numbers through it, so it still works
on its own (``loss(labels, embeddings)``, a custom training loop that puts ``loss.layer``
into its model before building it). ``BaseNetwork.compile`` refuses them: a built network
cannot take new weights through public Keras API.

Removed (they needed private Keras state): ``attach_loss_parameters``,
``attach_compiled_losses``, ``LossParametersMixin`` and the ``LossParameters`` layer.
"""

from __future__ import annotations

import inspect
import warnings

import keras


def _deprecated(owner: str, replacement: str) -> None:
    warnings.warn(
        f"{owner} is deprecated and will be removed in the next release: class weights live "
        f"in layers now; use {replacement} in an "
        "embedding_net.models.ClassifierTrainingModel (see docs/models.md)",
        DeprecationWarning,
        stacklevel=4,
    )


class ParametricLoss(keras.losses.Loss):
    """Deprecated base of the losses that keep trainable variables in ``loss.layer``.

    Subclasses name their head (``head_class``, a class name in :mod:`embedding_net.heads`)
    and pass their own constructor arguments as keyword arguments; ``get_config`` returns
    exactly the constructor arguments.

    Args:
        num_classes: number of classes (labels must lie in ``[0, num_classes)``).
        embedding_dim: embedding size; the weights are built at once when given, otherwise
            on the first call.
        num_centers: weight rows per class.
        initializer: Keras initializer of the weight matrix (default: the head's).
        reduction, name, dtype: as in ``keras.losses.Loss``.
    """

    head_class = ""
    replacement = ""  # what the deprecation warning points to (default: the head class)

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
        from embedding_net.heads.base import positive_int

        _deprecated(
            type(self).__name__, self.replacement or f"embedding_net.heads.{self.head_class}"
        )
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._fn_kwargs = fn_kwargs
        self.num_classes = positive_int(num_classes, "num_classes")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim", allow_none=True)
        self.num_centers = positive_int(num_centers, "num_centers")
        self.initializer = initializer
        self._dtype_arg = dtype
        self.layer = self.make_layer()
        if embedding_dim is not None and not self.layer.built:
            self.layer.build((None, embedding_dim))

    def make_layer(self) -> keras.layers.Layer:
        """The head holding this loss's variables (override for other variables)."""
        from embedding_net import heads

        cls = getattr(heads, self.head_class)
        kwargs = dict(self._fn_kwargs)
        if "num_centers" in inspect.signature(cls.__init__).parameters:
            kwargs["num_centers"] = self.num_centers
        return cls(
            self.num_classes,
            initializer=self.initializer,
            name=f"{self.name}_parameters",
            **kwargs,
        )

    def build(self, embedding_dim: int):
        """Create the variables for embeddings of size ``embedding_dim`` (once)."""
        if not self.layer.built:
            from embedding_net.heads.base import positive_int

            self.embedding_dim = positive_int(int(embedding_dim), "embedding_dim")
            self.layer.build((None, self.embedding_dim))

    @property
    def weight_matrix(self):
        """The trainable ``(num_classes * num_centers, embedding_dim)`` matrix."""
        return self.layer.weight_matrix

    def call(self, y_true, y_pred):
        self.build(y_pred.shape[-1])
        return self.layer(y_pred, y_true)

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


def find_parametric_losses(loss) -> list:
    """Every :class:`ParametricLoss` in ``loss``: a loss, a list/dict of losses, or a
    composite loss holding its parts in a ``losses`` attribute (:class:`CombinedLoss`)."""
    found = []
    for item in keras.tree.flatten(loss):
        if isinstance(item, ParametricLoss):
            found.append(item)
        elif isinstance(getattr(item, "losses", None), (list, tuple)):
            found.extend(find_parametric_losses(list(item.losses)))
    return found
