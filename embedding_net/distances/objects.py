"""Distance objects: swappable, serialisable metrics that every loss and miner accepts.

The design follows pytorch-metric-learning: a distance knows whether it is a similarity
(``is_inverted``: larger means closer) and ``margin(x, y)`` turns "x should be smaller than y"
into a signed violation for both kinds, so one loss body serves distances and similarities.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import keras
from keras import ops

from embedding_net.distances import functional as F
from embedding_net.registry import Registry

_PACKAGE = "embedding_net"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Distance(abc.ABC):
    """Base class of pairwise distances / similarities.

    Subclasses implement :meth:`compute_matrix`. ``distance(x)`` returns the ``(batch, batch)``
    matrix of a batch against itself (``pairwise``), ``distance(x, y)`` the ``(n, m)`` cross
    matrix (e.g. embeddings against proxies).

    Attributes:
        is_inverted: ``True`` for similarities (larger = closer), ``False`` for distances.
    """

    is_inverted: bool = False

    def __init__(self, normalize_embeddings: bool = False):
        self.normalize_embeddings = bool(normalize_embeddings)

    # -- to implement -------------------------------------------------------------------
    @abc.abstractmethod
    def compute_matrix(self, x, y):
        """Cross matrix ``(n, m)`` between ``x (n, dim)`` and ``y (m, dim)``."""

    def compute_pairwise(self, x):
        """Matrix ``(batch, batch)`` of a batch against itself (defaults to the cross matrix)."""
        return self.compute_matrix(x, x)

    def compute_paired(self, x, y):
        """Row-aligned values ``(n,)`` between ``x[i]`` and ``y[i]`` (both ``(n, dim)``).

        Defaults to the diagonal of :meth:`compute_matrix` (``O(n^2 dim)``); the built-in
        distances override it with ``O(n dim)`` formulas (:attr:`has_fast_paired`).
        """
        return ops.diagonal(self.compute_matrix(x, y))

    @property
    def has_fast_paired(self) -> bool:
        """Whether :meth:`compute_paired` is an ``O(n dim)`` override (losses that need only a
        few entries of the matrix then differentiate those entries alone)."""
        return type(self).compute_paired is not Distance.compute_paired

    # -- public API ---------------------------------------------------------------------
    def __call__(self, x, y=None):
        """Return the pairwise matrix of ``x`` with itself, or with ``y`` when given.

        Args:
            x: float tensor ``(n, dim)``.
            y: optional float tensor ``(m, dim)``.

        Returns:
            Float tensor ``(n, n)`` or ``(n, m)``.
        """
        x = ops.convert_to_tensor(x)
        if len(x.shape) != 2:
            raise ValueError(
                f"{type(self).__name__}: `x` must be 2-D (batch, dim), got shape {x.shape}"
            )
        if self.normalize_embeddings:
            x = F.l2_normalize(x, axis=1)
        if y is None:
            return self.compute_pairwise(x)
        y = ops.convert_to_tensor(y, dtype=x.dtype)
        if len(y.shape) != 2:
            raise ValueError(
                f"{type(self).__name__}: `y` must be 2-D (batch, dim), got shape {y.shape}"
            )
        if self.normalize_embeddings:
            y = F.l2_normalize(y, axis=1)
        return self.compute_matrix(x, y)

    def pairwise(self, x):
        """Alias of ``self(x)``: ``(batch, batch)`` matrix."""
        return self(x)

    def paired(self, x, y):
        """Values ``(n,)`` of the row pairs ``(x[i], y[i])``: ``diag(self(x, y))`` without the
        matrix for the built-in distances.

        Args:
            x, y: float tensors ``(n, dim)``.

        Returns:
            Float tensor ``(n,)``.
        """
        x = ops.convert_to_tensor(x)
        y = ops.convert_to_tensor(y, dtype=x.dtype)
        static = [(a, b) for a, b in zip(x.shape, y.shape) if a is not None and b is not None]
        if len(x.shape) != 2 or len(y.shape) != 2 or any(a != b for a, b in static):
            raise ValueError(
                f"{type(self).__name__}.paired: `x` and `y` must be 2-D of one shape "
                f"(n, dim), got {x.shape} and {y.shape}"
            )
        if self.normalize_embeddings:
            x = F.l2_normalize(x, axis=1)
            y = F.l2_normalize(y, axis=1)
        return self.compute_paired(x, y)

    def margin(self, x, y):
        """Signed violation of "``x`` is closer than ``y``": positive means violated.

        For a distance, ``margin(d_ap, d_an) = d_ap - d_an``; for a similarity,
        ``margin(s_ap, s_an) = s_an - s_ap``. A triplet loss is then
        ``relu(distance.margin(ap, an) + margin)`` for both kinds.
        """
        return y - x if self.is_inverted else x - y

    def closer(self, x, y):
        """Boolean tensor: ``x`` is strictly closer than ``y``."""
        return ops.greater(x, y) if self.is_inverted else ops.less(x, y)

    def to_distance(self, matrix):
        """Map a matrix to "smaller is closer" order (negate similarities)."""
        return -matrix if self.is_inverted else matrix

    def get_config(self) -> dict:
        return {"normalize_embeddings": self.normalize_embeddings}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LpDistance(Distance):
    """``(sum_k |x_k - y_k|^p)^(power/p)``.

    ``p=2`` uses tensorflow-addons' expansion (:func:`pairwise_distance`, diagonal 0 for a batch
    against itself, finite gradient at 0); other ``p`` materialise ``(n, m, dim)``.

    Args:
        p: order of the norm (``>= 1``; ``float("inf")`` allowed).
        power: raise the distance to this power (``power=2`` with ``p=2``: squared L2).
        normalize_embeddings: l2-normalise the rows first.
    """

    def __init__(self, p: float = 2.0, power: float = 1.0, normalize_embeddings: bool = False):
        super().__init__(normalize_embeddings=normalize_embeddings)
        if not p >= 1:
            raise ValueError(f"LpDistance: `p` must be >= 1, got {p!r}")
        if not power > 0:
            raise ValueError(f"LpDistance: `power` must be > 0, got {power!r}")
        self.p = float(p)
        self.power = float(power)

    def _finish(self, matrix, squared_already: bool):
        if squared_already:
            if self.power == 2.0:
                return matrix
            return ops.power(matrix, self.power / 2.0)
        if self.power == 1.0:
            return matrix
        return ops.power(matrix, self.power)

    def compute_pairwise(self, x):
        if self.p == 2.0:
            squared = self.power == 2.0
            return self._finish(F.pairwise_distance(x, squared=squared), squared)
        n = ops.shape(x)[0]
        m = F.lp_distance_matrix(x, None, self.p) * (1.0 - ops.eye(n, dtype=x.dtype))
        return self._finish(m, False)

    def compute_matrix(self, x, y):
        if self.p == 2.0:
            squared = self.power == 2.0
            return self._finish(F.euclidean_distance_matrix(x, y, squared=squared), squared)
        return self._finish(F.lp_distance_matrix(x, y, self.p), False)

    def compute_paired(self, x, y):
        diff = x - y
        if self.p == 2.0:
            d2 = ops.sum(ops.square(diff), axis=1)
            return (
                self._finish(d2, True)
                if self.power == 2.0
                else self._finish(F.safe_sqrt(d2), False)
            )
        if self.p == float("inf"):
            return self._finish(ops.max(ops.abs(diff), axis=1), False)
        return self._finish(
            ops.power(ops.sum(ops.power(ops.abs(diff), self.p), axis=1), 1.0 / self.p), False
        )

    def get_config(self) -> dict:
        return {"p": self.p, "power": self.power, **super().get_config()}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EuclideanDistance(LpDistance):
    """Euclidean (L2) distance, tensorflow-addons' ``"L2"``."""

    def __init__(self, normalize_embeddings: bool = False):
        super().__init__(p=2.0, power=1.0, normalize_embeddings=normalize_embeddings)

    def get_config(self) -> dict:
        return {"normalize_embeddings": self.normalize_embeddings}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SquaredEuclideanDistance(LpDistance):
    """Squared Euclidean distance, tensorflow-addons' ``"squared-L2"``."""

    def __init__(self, normalize_embeddings: bool = False):
        super().__init__(p=2.0, power=2.0, normalize_embeddings=normalize_embeddings)

    def get_config(self) -> dict:
        return {"normalize_embeddings": self.normalize_embeddings}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosineSimilarity(Distance):
    """Cosine similarity ``xn . yn`` (a similarity: ``is_inverted = True``).

    The rows are always l2-normalised; ``normalize_embeddings`` is accepted for symmetry.
    """

    is_inverted = True

    def __init__(self, normalize_embeddings: bool = True):
        super().__init__(normalize_embeddings=normalize_embeddings)

    def compute_matrix(self, x, y):
        return F.cosine_similarity_matrix(x, y)

    def compute_paired(self, x, y):
        return ops.sum(F.l2_normalize(x, axis=1) * F.l2_normalize(y, axis=1), axis=1)

    def compute_pairwise(self, x):
        return F.cosine_similarity_matrix(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DotProductSimilarity(Distance):
    """Un-normalised dot product ``x . y`` (a similarity: ``is_inverted = True``).

    With ``normalize_embeddings=True`` it equals :class:`CosineSimilarity`.
    """

    is_inverted = True

    def compute_matrix(self, x, y):
        return ops.matmul(x, ops.transpose(y))

    def compute_paired(self, x, y):
        return ops.sum(x * y, axis=1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AngularDistance(Distance):
    """tensorflow-addons' ``"angular"`` distance: ``max(1 - cos, 0)`` (not arccos).

    The diagonal is not zeroed (tensorflow-addons 0.23 behaviour).
    """

    def __init__(self, normalize_embeddings: bool = False):
        super().__init__(normalize_embeddings=normalize_embeddings)

    def compute_matrix(self, x, y):
        return F.angular_distance_matrix(x, y)

    def compute_paired(self, x, y):
        cos = ops.sum(F.l2_normalize(x, axis=1) * F.l2_normalize(y, axis=1), axis=1)
        return ops.maximum(1.0 - cos, 0.0)

    def compute_pairwise(self, x):
        return F.angular_distance(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FunctionDistance(Distance):
    """Wrap a callable ``fn(embeddings (B, D)) -> (B, B)`` (tensorflow-addons' custom metric).

    Args:
        fn: the callable; register it with ``keras.saving.register_keras_serializable`` to save
            a model that uses it.
        is_inverted: ``True`` when ``fn`` returns similarities.
    """

    def __init__(self, fn: Callable, is_inverted: bool = False):
        super().__init__(normalize_embeddings=False)
        if isinstance(fn, dict):
            fn = keras.saving.deserialize_keras_object(fn)
        if not callable(fn):
            raise ValueError(f"FunctionDistance: `fn` must be callable, got {fn!r}")
        self.fn = fn
        self.is_inverted = bool(is_inverted)

    def compute_pairwise(self, x):
        return self.fn(x)

    def compute_matrix(self, x, y):
        raise ValueError(
            "FunctionDistance wraps a batch -> (batch, batch) callable and has no cross matrix; "
            "use a Distance subclass for distances between two sets"
        )

    def get_config(self) -> dict:
        return {
            "fn": keras.saving.serialize_keras_object(self.fn),
            "is_inverted": self.is_inverted,
        }


DISTANCES = Registry("distance")
DISTANCES.register("L2", EuclideanDistance, aliases=("euclidean",))
DISTANCES.register("squared-L2", SquaredEuclideanDistance, aliases=("squared-euclidean",))
DISTANCES.register("angular", AngularDistance)
DISTANCES.register("cosine", CosineSimilarity, aliases=("cosine-similarity",))
DISTANCES.register("dot", DotProductSimilarity, aliases=("dot-product",))


def register_distance(name: str, cls: type | None = None, *, aliases=()):
    """Register a :class:`Distance` subclass under ``name`` for :func:`get_distance` (also usable
    as a class decorator ``@register_distance("my-distance")``)."""
    return DISTANCES.register(name, cls, aliases=aliases)


def available_distances() -> list[str]:
    """Names accepted by :func:`get_distance` (case-insensitive, ``_`` may replace ``-``)."""
    return DISTANCES.names()


def get_distance(identifier=None, default: str = "L2") -> Distance:
    """Resolve a distance identifier to a :class:`Distance` object.

    Args:
        identifier: a name (``"L2"``, ``"euclidean"``, ``"squared-L2"``, ``"angular"``,
            ``"cosine"``, ``"dot"``), a :class:`Distance`, a callable ``(B, D) -> (B, B)`` (wrapped in
            :class:`FunctionDistance`), a serialised config dict, or ``None`` for ``default``.
        default: name used when ``identifier`` is ``None``.

    Returns:
        A :class:`Distance`.

    Raises:
        ValueError: for an unknown name or type; the message lists the valid names.
    """
    if identifier is None:
        identifier = default
    if isinstance(identifier, Distance):
        return identifier
    if isinstance(identifier, str):
        if identifier in DISTANCES:
            return DISTANCES.create(identifier)
        raise DISTANCES.unknown(identifier, "a Distance object or a callable")
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(identifier)
        return get_distance(obj)
    if callable(identifier):
        return FunctionDistance(identifier)
    raise ValueError(
        f"Unknown distance {identifier!r} of type {type(identifier).__name__}: expected one of "
        f"{available_distances()}, a Distance object or a callable"
    )


def serialize_distance(identifier):
    """Config-friendly form of a ``distance`` argument: names stay strings, objects become dicts."""
    if identifier is None or isinstance(identifier, str):
        return identifier
    return keras.saving.serialize_keras_object(identifier)


def deserialize_distance(value):
    """Inverse of :func:`serialize_distance` (dicts become objects, strings stay)."""
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value
