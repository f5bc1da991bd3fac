"""Scores of embedding pairs in numpy, named with the one distance vocabulary of the package.

Every ``distance=`` argument of the evaluation package, the index, the callbacks, the CLI and
the app takes what :func:`embedding_net.distances.get_distance` takes: ``"L2"`` (alias
``"euclidean"``), ``"squared-L2"`` (``"squared-euclidean"``), ``"angular"`` (``max(1 - cos, 0)``)
are distances (smaller = closer); ``"cosine"`` (cosine similarity) and ``"dot"`` (dot product)
are similarities (larger = closer, ``Distance.is_inverted``). A :class:`Distance` object works
too: the five built-in ones are computed here in numpy (float64 for pair scores), any other
through the object itself.

Threshold convention (``compare``, ``serve``, ``evaluate`` and saved metrics): a threshold is
in the units of the score of the named distance, and a pair is the same when its score is on
the near side: ``score <= t`` for a distance, ``score >= t`` for a similarity
(:func:`is_match`).
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation._inputs import l2_normalize

__all__ = [
    "is_match",
    "is_similarity",
    "pair_scores",
    "resolve_distance",
    "score_kind",
    "score_matrix",
    "to_ranking",
]

# kinds computed in numpy; anything else goes through the Distance object
KINDS = ("L2", "squared-L2", "angular", "cosine", "dot")


def resolve_distance(distance=None, default: str = "L2"):
    """The :class:`~embedding_net.distances.Distance` of a name, object, callable or config.

    Raises:
        ValueError: unknown name; the message lists the valid names.
    """
    from embedding_net.distances import get_distance

    return get_distance(distance, default=default)


def score_kind(distance) -> str | None:
    """The numpy kind (one of ``KINDS``) of a distance, or None when only the object computes it.

    Embedding normalisation asked by ``normalize_embeddings=True`` is not part of the kind: see
    :func:`needs_normalization`.
    """
    from embedding_net import distances as D

    d = resolve_distance(distance)
    if type(d) in (D.EuclideanDistance, D.SquaredEuclideanDistance, D.LpDistance):
        if d.p == 2.0 and d.power in (1.0, 2.0):
            return "L2" if d.power == 1.0 else "squared-L2"
        return None
    for cls, kind in (
        (D.AngularDistance, "angular"),
        (D.CosineSimilarity, "cosine"),
        (D.DotProductSimilarity, "dot"),
    ):
        if type(d) is cls:
            return kind
    return None


def needs_normalization(distance) -> bool:
    """Rows are l2-normalised first (cosine and angular always, others when asked)."""
    d = resolve_distance(distance)
    return score_kind(d) in ("cosine", "angular") or bool(d.normalize_embeddings)


def is_similarity(distance) -> bool:
    """True when larger scores mean closer (cosine, dot, any ``is_inverted`` Distance)."""
    return bool(resolve_distance(distance).is_inverted)


def to_ranking(scores, distance) -> np.ndarray:
    """Scores mapped to "smaller is closer" order (``Distance.to_distance``: similarities negated)."""
    scores = np.asarray(scores)
    return -scores if is_similarity(distance) else scores


def is_match(scores, threshold: float, distance) -> np.ndarray | bool:
    """Same / different at ``threshold`` (in the units of ``distance``'s score).

    ``score <= threshold`` for a distance, ``score >= threshold`` for a similarity.
    """
    scores = np.asarray(scores)
    same = scores >= threshold if is_similarity(distance) else scores <= threshold
    return bool(same) if same.ndim == 0 else same


def _object_matrix(d, x, y) -> np.ndarray:
    import keras

    out = d(
        keras.ops.convert_to_tensor(x.astype(np.float32)),
        keras.ops.convert_to_tensor(y.astype(np.float32)),
    )
    return np.asarray(keras.ops.convert_to_numpy(out), np.float64)


def pair_scores(a, b, distance="cosine") -> np.ndarray:
    """Score of each row pair ``(a[i], b[i])`` in the units of ``distance``, float64 ``(n,)``.

    Args:
        a, b: float arrays ``(n, dim)``.
        distance: a distance name or :class:`Distance` (default cosine similarity: larger =
            same); ``"L2"`` / ``"euclidean"`` gives the L2 distance (smaller = same).

    Raises:
        ValueError: for mismatched shapes or an unknown distance.
    """
    from embedding_net.evaluation._inputs import to_numpy

    a = np.asarray(to_numpy(a, "a"), dtype=np.float64)
    b = np.asarray(to_numpy(b, "b"), dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"`a` and `b` must both have shape (n, dim), got {a.shape} and {b.shape}.")
    d = resolve_distance(distance)
    kind = score_kind(d)
    if kind is None:
        return np.asarray(
            [_object_matrix(d, a[i : i + 1], b[i : i + 1])[0, 0] for i in range(a.shape[0])]
        )
    if needs_normalization(d):
        a, b = l2_normalize(a), l2_normalize(b)
    if kind in ("L2", "squared-L2"):
        squared = np.sum((a - b) ** 2, axis=1)
        return np.sqrt(squared) if kind == "L2" else squared
    dot = np.sum(a * b, axis=1)
    return np.maximum(1.0 - dot, 0.0) if kind == "angular" else dot


def score_matrix(x, y=None, distance="L2") -> np.ndarray:
    """All scores ``(n, m)`` between the rows of ``x`` and ``y`` (``x`` itself when None), float64.

    In the units of ``distance`` (a similarity for cosine / dot). The L2 kinds use
    ``|x|^2 + |y|^2 - 2 x.y`` clipped at 0.
    """
    x = np.asarray(x, np.float64)
    y = x if y is None else np.asarray(y, np.float64)
    d = resolve_distance(distance)
    kind = score_kind(d)
    if kind is None:
        return _object_matrix(d, x, y)
    if needs_normalization(d):
        x, y = l2_normalize(x), l2_normalize(y)
    dot = x @ y.T
    if kind in ("cosine", "dot"):
        return dot
    if kind == "angular":
        return np.maximum(1.0 - dot, 0.0)
    sq = np.maximum(
        np.sum(x * x, axis=1)[:, None] + np.sum(y * y, axis=1)[None, :] - 2.0 * dot, 0.0
    )
    return np.sqrt(sq) if kind == "L2" else sq
