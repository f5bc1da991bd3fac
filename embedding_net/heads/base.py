"""The base class of the class heads and the head-name registry.

A class head is a Keras layer that owns the weights a loss learns per class (ArcFace's class
weights, Proxy-Anchor's proxies, SoftTriple's centres, Center loss' centres) and computes
that loss from a batch: ``head(embeddings, labels) -> (batch,)`` per-sample values (a
scalar for Proxy-Anchor). Being a layer, it is tracked by the model that holds it
(:class:`~embedding_net.models.ClassifierTrainingModel`): any optimizer trains its weights,
``model.save`` / ``keras.saving.load_model`` keep them, nothing reaches into private Keras
state. The pure functions (``arcface_loss(labels, embeddings, weight_matrix)``, ...) stay in
:mod:`embedding_net.losses` for code that manages its own variables.
"""

from __future__ import annotations

import keras

from embedding_net.registry import Registry

# head name -> class; the names are those of the loss registry ("arcface", "proxy-anchor")
HEADS = Registry("head")


def register_head(name: str, cls: type | None = None, *, aliases=()):
    """Register a head class under ``name`` for :func:`get_head` (also a class decorator)."""
    return HEADS.register(name, cls, aliases=aliases)


def available_heads() -> list[str]:
    """Registered head names accepted by :func:`get_head`."""
    return HEADS.names()


def get_head(identifier, **kwargs) -> ClassHead:
    """Resolve a head identifier to a :class:`ClassHead`.

    Args:
        identifier: a registered name (``"cosface"``, ``"proxy_anchor"``; see
            :func:`available_heads`), a class name (``"CosFaceHead"``), a head, or its
            serialised config.
        **kwargs: constructor arguments when ``identifier`` is a name.

    Raises:
        ValueError: unknown identifier; the message lists the valid names.
    """
    if isinstance(identifier, ClassHead):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        return HEADS.create(identifier, "a head class name, a ClassHead or a config dict", **kwargs)
    raise HEADS.unknown(identifier, "a head class name, a ClassHead or a config dict")


def positive_int(value, argument: str, allow_none: bool = False):
    """``value`` if it is a positive int (or None when allowed); otherwise ValueError."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{argument}` must be a positive int, got {value!r}")
    return value


class ClassHead(keras.layers.Layer):
    """A layer holding a ``(num_classes * num_centers, embedding_dim)`` weight matrix and
    computing its loss: ``head(embeddings, labels)``.

    Rows ``c * num_centers + k`` are the ``k``-th weight vector (sub-centre, proxy) of class
    ``c``. Subclasses set ``loss_fn`` (a staticmethod ``fn(labels, embeddings,
    weight_matrix, **params)``), ``params`` (the names of their hyper-parameters, stored as
    attributes and passed to ``loss_fn``) and ``default_initializer``.

    Args:
        num_classes: number of classes ``C``; labels must lie in ``[0, C)``.
        embedding_dim: embedding size; the weights are built at once when given, otherwise
            on the first call (or by the training model, from its network's output).
        num_centers: weight rows per class ``K``.
        initializer: Keras initializer of the matrix (default: the head's own).
        name, dtype, **kwargs: ``keras.layers.Layer`` arguments. The dtype policy defaults
            to float32: labels keep their exact integer values and the loss is computed in
            float32 under mixed precision.

    Call:
        ``head(embeddings (batch, dim), labels (batch,))`` -> float32 ``(batch,)``.
    """

    loss_fn = None
    params: tuple[str, ...] = ()
    default_initializer = "random_normal"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int | None = None,
        num_centers: int = 1,
        initializer=None,
        name: str | None = None,
        dtype="float32",
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_classes = positive_int(num_classes, "num_classes")
        self.num_centers = positive_int(num_centers, "num_centers")
        positive_int(embedding_dim, "embedding_dim", allow_none=True)
        if isinstance(initializer, dict):
            initializer = keras.initializers.deserialize(initializer)
        self.initializer = initializer
        if embedding_dim is not None:
            self.build((None, embedding_dim))

    @property
    def embedding_dim(self) -> int | None:
        """The embedding size once the weights are built, else None."""
        return int(self.weight_matrix.shape[1]) if self.built else None

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__}: embeddings must have shape (batch, dim) with a known "
                f"dim, got {tuple(input_shape)}"
            )
        initializer = self.initializer if self.initializer is not None else self.default_initializer
        self.weight_matrix = self.add_weight(
            shape=(self.num_classes * self.num_centers, int(input_shape[-1])),
            initializer=keras.initializers.get(initializer),
            name="weight_matrix",
        )

    def loss_params(self) -> dict:
        """The keyword arguments ``loss_fn`` gets besides labels, embeddings and weights."""
        return {key: getattr(self, key) for key in self.params}

    def call(self, embeddings, labels):
        dim = embeddings.shape[-1]
        if len(embeddings.shape) != 2 or (dim is not None and dim != self.embedding_dim):
            raise ValueError(
                f"{type(self).__name__}: embeddings must have shape (batch, "
                f"{self.embedding_dim}), got {tuple(embeddings.shape)}"
            )
        return type(self).loss_fn(labels, embeddings, self.weight_matrix, **self.loss_params())

    def compute_output_spec(self, embeddings, labels):
        shape = () if getattr(self, "scalar_loss", False) else (embeddings.shape[0],)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        initializer = self.initializer
        if initializer is not None and not isinstance(initializer, str):
            initializer = keras.initializers.serialize(keras.initializers.get(initializer))
        config.update(
            {
                "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim,
                "initializer": initializer,
            }
        )
        config.update(self.loss_params())
        return config
