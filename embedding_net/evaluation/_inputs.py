"""Input conversion and validation shared by the evaluation functions (numpy only)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np


def to_numpy(x, name: str) -> np.ndarray:
    """Converts a numpy array, a list or a backend tensor (TF, JAX, torch) to numpy.

    Args:
        x: array-like or tensor.
        name: argument name used in error messages.

    Returns:
        A numpy array (not copied when ``x`` already is one).
    """
    if x is None:
        raise ValueError(f"`{name}` must be an array, got None.")
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        import keras  # only for tensors numpy cannot read directly (e.g. torch on GPU)

        return np.asarray(keras.ops.convert_to_numpy(x))


def check_embeddings(x, name: str, allow_empty: bool = False) -> np.ndarray:
    """Validates a float matrix ``(n, dim)`` of finite values.

    Integer inputs are converted to float32; float64 is kept (exact tests), every other float
    dtype becomes float32.

    Raises:
        ValueError: naming ``name`` for a wrong rank, an empty array or NaN / inf values.
    """
    x = to_numpy(x, name)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must have shape (n, dim), got shape {x.shape}.")
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"`{name}` is empty (shape {x.shape}); at least one row is needed.")
    if x.shape[1] == 0:
        raise ValueError(f"`{name}` has zero columns (shape {x.shape}).")
    if x.dtype != np.float64:
        x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return x


def check_distance_matrix(d, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Validates a finite distance matrix, optionally of a given shape."""
    d = to_numpy(d, name)
    if d.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D matrix, got shape {d.shape}.")
    if shape is not None and d.shape != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}, got {d.shape}.")
    if d.size == 0:
        raise ValueError(f"`{name}` is empty (shape {d.shape}).")
    if d.dtype != np.float64:
        d = d.astype(np.float32, copy=False)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return d


def check_labels(y, n: int, name: str) -> np.ndarray:
    """Validates a 1-D label / id / camera vector of length ``n``."""
    y = to_numpy(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D with {n} entries, got shape {y.shape}.")
    if y.shape[0] != n:
        raise ValueError(f"`{name}` has {y.shape[0]} entries but {n} were expected.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return y


def check_distance(distance):
    """Validates a distance name or object against :func:`embedding_net.distances.get_distance`.

    Returns:
        ``distance`` itself (a name keeps the user's spelling, e.g. for an index header).

    Raises:
        ValueError: unknown name; the message lists the valid names.
    """
    from embedding_net.evaluation.scores import resolve_distance

    if distance is None:
        raise ValueError("`distance` must be a distance name or a Distance object, got None.")
    resolve_distance(distance)
    return distance


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows (the last axis) divided by their L2 norm; all-zero rows stay zero."""
    norms = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norms, eps).astype(x.dtype)


class DistanceChunks:
    """Query-chunked pairwise "smaller is closer" scores between two embedding sets.

    The distance is any name or object of :func:`embedding_net.distances.get_distance`.
    L2 distances are computed as ``|q|^2 + |g|^2 - 2 q.g`` (clipped at 0); with
    ``squared=True`` the square root is skipped (same ranking, less work). ``"angular"`` is
    ``max(1 - cos, 0)``; a similarity (``"cosine"``, ``"dot"``) is negated
    (``Distance.to_distance``), so every block ranks nearest first. All-zero rows have cosine 0
    to everything. With ``ranking_only=True`` each row is only shifted by a per-row constant
    (``|g|^2 - 2 q.g``, or ``-cos`` for cosine and angular): the order within a row is the same,
    two passes over the block are saved.

    Args:
        queries: float array (n_q, dim).
        references: float array (n_g, dim).
        distance: a distance name (``"L2"``, ``"squared-L2"``, ``"angular"``, ``"cosine"``,
            ``"dot"`` and their aliases) or a ``Distance`` object.
        chunk_size: query rows per chunk; memory per chunk is O(chunk_size * n_g).
        squared: for L2, return squared distances.
        ranking_only: return row-shifted values that rank like the distances.
    """

    def __init__(
        self,
        queries,
        references,
        distance="L2",
        chunk_size=512,
        squared=False,
        ranking_only=False,
    ):
        from embedding_net.evaluation.scores import (
            needs_normalization,
            resolve_distance,
            score_kind,
        )

        if queries.shape[1] != references.shape[1]:
            raise ValueError(
                f"query and reference embeddings differ in dimension: "
                f"{queries.shape[1]} vs {references.shape[1]}."
            )
        dtype = np.result_type(queries.dtype, references.dtype)
        self.metric = resolve_distance(check_distance(distance))
        self.kind = score_kind(self.metric)
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.squared = squared or self.kind == "squared-L2"
        self.ranking_only = ranking_only
        self.queries = queries.astype(dtype, copy=False)
        self.references = references.astype(dtype, copy=False)
        if self.kind is not None and needs_normalization(self.metric):
            self.queries = l2_normalize(self.queries)
            self.references = l2_normalize(self.references)
        if self.kind in ("L2", "squared-L2"):
            self.ref_sq = np.einsum("ij,ij->i", self.references, self.references)

    def block(self, start: int, stop: int) -> np.ndarray:
        q = self.queries[start:stop]
        if self.kind is None:
            from embedding_net.evaluation.scores import _object_matrix, to_ranking

            d = to_ranking(_object_matrix(self.metric, q, self.references), self.metric)
            return d.astype(q.dtype, copy=False)
        if self.ranking_only and self.kind in ("L2", "squared-L2"):
            # (-2 q) . g is exact (power-of-two scaling): one pass fewer over the block
            d = (q * -2.0) @ self.references.T
            d += self.ref_sq[None, :]
            return d
        d = q @ self.references.T
        if self.kind in ("cosine", "dot"):
            np.negative(d, out=d)
            return d
        if self.kind == "angular":
            if self.ranking_only:
                np.negative(d, out=d)
            else:
                np.subtract(1.0, d, out=d)
                np.maximum(d, 0.0, out=d)
            return d
        d *= -2.0
        d += self.ref_sq[None, :]
        d += np.einsum("ij,ij->i", q, q)[:, None]
        np.maximum(d, 0.0, out=d)
        if not self.squared:
            np.sqrt(d, out=d)
        return d

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        n = self.queries.shape[0]
        for start in range(0, n, self.chunk_size):
            stop = min(start + self.chunk_size, n)
            yield start, stop, self.block(start, stop)


def matrix_chunks(dist: np.ndarray, chunk_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Row chunks of a precomputed distance matrix (views, no copies)."""
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    for start in range(0, dist.shape[0], chunk_size):
        stop = min(start + chunk_size, dist.shape[0])
        yield start, stop, dist[start:stop]


def _as_label_array(labels, n: int, name: str) -> np.ndarray:
    arr = to_numpy(labels, name)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"`{name}` must be 1-D with {n} entries, got shape {arr.shape}.")
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr):
            arr = arr.astype(str)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"`{name}` must hold ints or strings (saved without pickle).")
    if arr.dtype.kind not in "biufU":
        raise ValueError(f"`{name}` must hold numbers or strings, got dtype {arr.dtype}.")
    return arr


def check_item_fields(labels, paths, metadata, n: int):
    """Validated ``(labels, paths, metadata)`` of ``n`` index items (each may be None).

    Labels become an int or str array (saved without pickle), paths a str array, metadata a
    list of JSON-serialisable dicts.

    Raises:
        ValueError: naming the field for a wrong length or type.
    """
    new_labels = None if labels is None else _as_label_array(labels, n, "labels")
    new_paths = None
    if paths is not None:
        new_paths = np.asarray([os.fspath(p) for p in paths], dtype=str)
        if new_paths.shape != (n,):
            raise ValueError(f"`paths` must have {n} entries, got {len(new_paths)}.")
    new_meta = None
    if metadata is not None:
        new_meta = [dict(m) if m is not None else {} for m in metadata]
        if len(new_meta) != n:
            raise ValueError(f"`metadata` must have {n} entries, got {len(new_meta)}.")
        try:
            json.dumps(new_meta)
        except TypeError as exc:
            raise ValueError(f"`metadata` must be JSON-serialisable: {exc}") from None
    return new_labels, new_paths, new_meta
