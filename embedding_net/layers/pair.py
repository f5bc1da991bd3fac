"""Layers that compare two embeddings row by row (siamese heads).

Distances are named as everywhere in the package (:func:`embedding_net.distances.get_distance`):
``"L2"`` (alias ``"euclidean"``), ``"squared-L2"`` (``"squared-euclidean"``,
``"squared_euclidean"``) and ``"angular"`` (``max(1 - cos, 0)``) are distances; ``"cosine"``
(cosine similarity) and ``"dot"`` are similarities (``Distance.is_inverted``).
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from embedding_net.distances.functional import l2_normalize

# every spelling accepted by paired_distance (the registry also ignores case and - / _)
PAIR_DISTANCES = (
    "L2",
    "euclidean",
    "squared-L2",
    "squared-euclidean",
    "squared_euclidean",
    "angular",
    "cosine",
    "cosine-similarity",
    "dot",
    "dot-product",
)
# the former ``metric=`` vocabulary: its "cosine" was the distance 1 - cos
_LEGACY_METRICS = {"euclidean": "L2", "squared_euclidean": "squared-L2", "cosine": "angular"}


def _legacy_metric(owner: str, metric: str) -> str:
    new = _LEGACY_METRICS.get(metric, metric)
    warnings.warn(
        f"{owner}(metric={metric!r}) is deprecated: use distance={new!r} (in the distance "
        "vocabulary of embedding_net.distances, 'cosine' is the cosine similarity and "
        "'angular' the distance 1 - cos that metric='cosine' gave)",
        DeprecationWarning,
        stacklevel=3,
    )
    return new


def _builtin_kinds() -> dict:
    from embedding_net import distances as D

    return {
        D.AngularDistance: "angular",
        D.CosineSimilarity: "cosine",
        D.DotProductSimilarity: "dot",
    }


def _kind(distance) -> str:
    """The row-wise computation of a distance name / Distance: one of the five built-ins."""
    from embedding_net import distances as D

    d = D.get_distance(distance)
    kind = None
    if type(d) in (D.EuclideanDistance, D.SquaredEuclideanDistance, D.LpDistance):
        if d.p == 2.0 and d.power in (1.0, 2.0):
            kind = "L2" if d.power == 1.0 else "squared-L2"
    else:
        kind = _builtin_kinds().get(type(d))
    if kind is None:
        raise ValueError(
            f"paired_distance: distance={distance!r} is not one of {PAIR_DISTANCES} "
            "(or a Distance object of these kinds)"
        )
    return kind


def paired_distance(a, b, distance="L2", *, metric=None):
    """Distance (or similarity) between matching rows of ``a`` and ``b``.

    Args:
        a: float tensor ``(batch, dim)``.
        b: float tensor ``(batch, dim)``, compared row by row with ``a``.
        distance: ``"L2"`` / ``"euclidean"`` (``|a-b|``), ``"squared-L2"`` (``|a-b|^2``),
            ``"angular"`` (``max(1 - cos(a, b), 0)``), ``"cosine"`` (the similarity
            ``cos(a, b)``) or ``"dot"`` (``a . b``), or a ``Distance`` of these kinds
            (``normalize_embeddings`` honoured).
        metric: deprecated: the former argument, whose ``"cosine"`` meant ``1 - cos``
            (mapped to ``"angular"`` with a ``DeprecationWarning``).

    Returns:
        float32 tensor ``(batch,)``. The L2 distance has a finite (zero) gradient where
        ``a == b``, like tensorflow-addons' ``pairwise_distance``.
    """
    if metric is not None:
        distance = _legacy_metric("paired_distance", metric)
    kind = _kind(distance)
    a = ops.cast(a, "float32")
    b = ops.cast(b, "float32")
    normalize = getattr(distance, "normalize_embeddings", False)
    if kind in ("angular", "cosine") or normalize:
        a, b = l2_normalize(a, axis=-1), l2_normalize(b, axis=-1)
    if kind in ("angular", "cosine", "dot"):
        dot = ops.sum(a * b, axis=-1)
        return ops.maximum(1.0 - dot, 0.0) if kind == "angular" else dot
    squared = ops.sum(ops.square(a - b), axis=-1)
    if kind == "squared-L2":
        return squared
    positive = ops.cast(squared > 0.0, "float32")
    return ops.sqrt(squared + (1.0 - positive) * 1e-16) * positive


@keras.saving.register_keras_serializable(package="embedding_net")
class PairDistance(keras.layers.Layer):
    """Keras layer wrapping :func:`paired_distance`: ``[a, b] -> (batch,)`` scores.

    Args:
        distance: a name of :data:`PAIR_DISTANCES` (see :func:`paired_distance`).
        metric: deprecated former argument (``"cosine"`` there meant ``1 - cos``: it becomes
            ``"angular"``); files saved with it load with the old meaning.
    """

    def __init__(self, distance: str = "L2", metric: str | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if metric is not None:
            distance = _legacy_metric("PairDistance", metric)
        if not isinstance(distance, str):
            raise ValueError(f"PairDistance: distance must be a name, got {distance!r}")
        try:
            _kind(distance)
        except ValueError:
            raise ValueError(
                f"PairDistance: distance={distance!r} is not one of {PAIR_DISTANCES}"
            ) from None
        self.distance = distance

    @property
    def is_similarity(self) -> bool:
        """True for ``"cosine"`` / ``"dot"`` (larger = closer)."""
        return _kind(self.distance) in ("cosine", "dot")

    def call(self, inputs):
        a, b = inputs
        return paired_distance(a, b, self.distance)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        config = super().get_config()
        config["distance"] = self.distance
        return config


@keras.saving.register_keras_serializable(package="embedding_net")
class AbsoluteDifferenceHead(keras.layers.Layer):
    """Merge network of a siamese model: ``sigmoid(Dense(|a - b|))``, the probability that a
    pair matches.

    Input: ``[a, b]``, each ``(batch, dim)``. Output: float32 ``(batch,)`` in (0, 1).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1, name="merge_dense", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.dense.build((None, input_shape[0][-1]))

    def call(self, inputs):
        a, b = inputs
        logits = self.dense(ops.abs(a - b))
        return ops.sigmoid(ops.cast(ops.squeeze(logits, axis=-1), "float32"))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)
