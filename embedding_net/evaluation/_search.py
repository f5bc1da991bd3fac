"""The k-nearest search of :class:`~embedding_net.evaluation.EmbeddingIndex`: exact numpy,
``keras.ops`` on the active backend's device, faiss ``IndexFlat``, and its :class:`SearchResult`
(approximate faiss indexes: :mod:`embedding_net.evaluation._approximate`).

Each function returns ``(indices int64 (n, k), scores float32 (n, k))``, nearest first, ties
by position, scores in the units of the index's distance (a similarity for cosine / dot).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from embedding_net.evaluation._inputs import DistanceChunks, l2_normalize
from embedding_net.evaluation.scores import (
    needs_normalization,
    resolve_distance,
    score_kind,
    to_ranking,
)


@dataclass
class SearchResult:
    """Nearest neighbours of a batch of queries, nearest first.

    Attributes:
        indices: int64 array (n_queries, k), positions in the index.
        scores: float32 array (n_queries, k) in the units of the index's distance: a
            distance for ``"L2"``, ``"squared-L2"``, ``"angular"`` (increasing along a row), a
            similarity for ``"cosine"`` and ``"dot"`` (decreasing).
        labels: array (n_queries, k) of the neighbours' labels, or None.
        paths: str array (n_queries, k), or None.
        metadata: list (n_queries) of lists (k) of dicts, or None.
        higher_is_closer: True when ``scores`` are similarities.

    ``distances`` is ``scores`` in "smaller is closer" order (``Distance.to_distance``: the
    scores of a distance, the negated scores of a similarity). Also readable like a dict:
    ``result["indices"]``.
    """

    indices: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None = None
    paths: np.ndarray | None = None
    metadata: list | None = None
    higher_is_closer: bool = False

    @property
    def distances(self) -> np.ndarray:
        return -self.scores if self.higher_is_closer else self.scores

    def __getitem__(self, key: str):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return ["indices", "scores", "distances", "labels", "paths", "metadata"]


def fill_missing(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``values`` (n, k) gathered at ``max(indices, 0)``, with the places of -1 (an approximate
    search found fewer than k items) set to -1 (numbers) or "" (strings)."""
    missing = indices < 0
    if not missing.any():
        return values
    blank = "" if values.dtype.kind in "US" else -1
    return np.where(missing, np.asarray(blank, dtype=values.dtype), values)


def faiss_module():
    if importlib.util.find_spec("faiss") is None:
        raise ImportError(
            "EmbeddingIndex(backend='faiss') needs faiss: pip install embedding-net[faiss] "
            "(or faiss-cpu / faiss-gpu)."
        )
    import faiss

    return faiss


def _lowest_positions_within(d, kth, k):
    """Per row, the k lowest positions among items strictly closer than kth, then tied ones."""
    closer = d < kth
    tied = d == kth
    key = np.where(closer, 0, np.where(tied, 1, 2)).astype(np.int8)
    return np.argsort(key, axis=1, kind="stable")[:, :k]


def _ranking_to_scores(ranking, kind, block, distance):
    """Scores (float64) of the ranking values of :class:`DistanceChunks` (``ranking_only``)."""
    if kind in ("L2", "squared-L2"):  # ranking = |g|^2 - 2 q.g
        q_sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
        squared = np.maximum(ranking + q_sq[:, None], 0.0)
        return np.sqrt(squared) if kind == "L2" else squared
    if kind == "angular":  # ranking = -cos
        return np.maximum(1.0 + ranking, 0.0)
    return to_ranking(ranking, distance)  # similarities were negated: undo it


# Item tiles of the exact search: blocks of at most TILE_ELEMENTS scores (16 MB of float32)
# stay below glibc's mmap threshold, so they are reused instead of page-faulted in again. After
# the first tile, each row keeps its k best so far and only scores below its k-th best are
# merged in: one comparison pass per tile instead of an argpartition (the per-tile selection
# took twice the matmul's time against 1M items).
TILE_ELEMENTS = 1 << 22


def _k_lowest(d, k):
    """Per row of ``d`` (rows, m), the positions of the k lowest values, ties by position."""
    if k >= d.shape[1]:
        return np.broadcast_to(np.arange(d.shape[1]), d.shape)
    part = np.argpartition(d, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(d, part, axis=1).max(axis=1, keepdims=True)
    if np.sum(d <= kth) > k * d.shape[0]:  # ties at the k-th distance
        part = _lowest_positions_within(d, kth, k)
    return part


def _merge_dense(positions, values, k):
    """The k best (lowest value, then lowest position) of each row, sorted."""
    order = np.lexsort((positions, values), axis=1)[:, :k]
    return np.take_along_axis(positions, order, 1), np.take_along_axis(values, order, 1)


def _merge_sparse(best_pos, best_val, rows, positions, values):
    """Merge candidates ``(rows, positions, values)`` (1-D) into the sorted k best, in place."""
    k = best_pos.shape[1]
    affected, local = np.unique(rows, return_inverse=True)
    row_all = np.concatenate([np.repeat(np.arange(affected.size), k), local])
    pos_all = np.concatenate([best_pos[affected].ravel(), positions])
    val_all = np.concatenate([best_val[affected].ravel(), values])
    order = np.lexsort((pos_all, val_all, row_all))
    starts = np.searchsorted(row_all[order], np.arange(affected.size))
    take = order[starts[:, None] + np.arange(k)]
    best_pos[affected] = pos_all[take]
    best_val[affected] = val_all[take]


def _tiled_block(chunks, start, stop, k):
    """``(positions, ranking values)`` (rows, k) of a query chunk, searched tile by tile."""
    q = chunks.queries[start:stop]
    if chunks.kind in ("L2", "squared-L2"):
        q = q * -2.0  # (-2 q) . g + |g|^2, as DistanceChunks.block
    tile = max(1024, TILE_ELEMENTS // max(1, q.shape[0]))
    best_pos = np.zeros((q.shape[0], 0), dtype=np.int64)
    best_val = np.zeros((q.shape[0], 0), dtype=q.dtype)
    for first in range(0, chunks.references.shape[0], tile):
        d = q @ chunks.references[first : first + tile].T
        if chunks.kind in ("L2", "squared-L2"):
            d += chunks.ref_sq[None, first : first + tile]
        else:  # cosine, dot, angular: -q.g (ranking_only)
            np.negative(d, out=d)
        if best_pos.shape[1] < k:
            part = _k_lowest(d, k)
            best_pos, best_val = _merge_dense(
                np.concatenate([best_pos, part + first], axis=1),
                np.concatenate([best_val, np.take_along_axis(d, part, axis=1)], axis=1),
                k,
            )
            continue
        # later tiles hold later positions: a value equal to the k-th best loses its tie.
        # One min-reduction finds the (few) rows with a candidate; only those are scanned.
        rows_hit = np.flatnonzero(d.min(axis=1) < best_val[:, -1])
        if rows_hit.size:
            sub_rows, cols = np.nonzero(d[rows_hit] < best_val[rows_hit, -1:])
            rows = rows_hit[sub_rows]
            _merge_sparse(best_pos, best_val, rows, cols + first, d[rows, cols])
    return best_pos, best_val


def search_exact(queries, items, k, distance, chunk_size):
    """Exact search in numpy, ``chunk_size`` queries at a time (in item tiles when large)."""
    distance = resolve_distance(distance)
    n = queries.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    chunks = DistanceChunks(queries, items, distance, chunk_size, ranking_only=True)
    tiled = chunks.kind is not None and items.shape[0] * min(n, chunk_size) > 4 * TILE_ELEMENTS
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        if tiled:
            part, part_d = _tiled_block(chunks, start, stop, k)
        else:
            d = chunks.block(start, stop)
            part = _k_lowest(d, k)
            part_d = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, part_d), axis=1)[:, :k]
        idx = np.take_along_axis(part, order, axis=1)
        ranked = np.take_along_axis(part_d, order, axis=1).astype(np.float64)
        indices[start:stop] = idx
        scores[start:stop] = _ranking_to_scores(
            ranked, chunks.kind, chunks.queries[start:stop], distance
        )
    return indices, scores


def keras_items(items, distance):
    """The device-side copy of the items: ``(items tensor, squared norms or None)``."""
    import keras

    ops = keras.ops
    kind = score_kind(distance)
    if kind is not None and needs_normalization(distance):
        items = l2_normalize(items)
    data_t = ops.convert_to_tensor(items)
    sq = ops.sum(ops.square(data_t), axis=1) if kind in ("L2", "squared-L2") else None
    return data_t, sq


def _keras_block_scores(block, cache, distance, kind):
    """``(closeness tensor (rows, n_items): larger = closer, scores of the top values fn)``."""
    import keras

    ops = keras.ops
    data_t, sq = cache
    block_t = ops.convert_to_tensor(block)
    if kind is None:
        score = distance(block_t, data_t)
        return score if distance.is_inverted else ops.negative(score)
    score = ops.matmul(block_t, ops.transpose(data_t))
    if sq is not None:  # -(squared distance) + |q|^2: larger = closer
        score = 2.0 * score - sq[None, :]
    return score


def search_keras(queries, cache, k, distance, chunk_size):
    """Exact search with ``keras.ops.matmul`` + ``top_k`` on the active backend."""
    import keras

    ops = keras.ops
    distance = resolve_distance(distance)
    kind = score_kind(distance)
    n = queries.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    if kind is not None and needs_normalization(distance):
        queries = l2_normalize(queries)
    for start in range(0, n, chunk_size):
        block = queries[start : start + chunk_size]
        closeness = _keras_block_scores(block, cache, distance, kind)
        values, idx = ops.top_k(closeness, k, sorted=True)
        values = ops.convert_to_numpy(values).astype(np.float64)
        idx = ops.convert_to_numpy(idx).astype(np.int64)
        if kind in ("L2", "squared-L2"):
            q_sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
            ranking = np.maximum(q_sq[:, None] - values, 0.0)  # squared distance
            result = np.sqrt(ranking) if kind == "L2" else ranking
        elif kind == "angular":
            ranking = result = np.maximum(1.0 - values, 0.0)
        else:  # similarities, or a Distance object's negated distances
            ranking = -values
            result = values if distance.is_inverted else ranking
        order = np.lexsort((idx, ranking), axis=1)
        indices[start : start + block.shape[0]] = np.take_along_axis(idx, order, axis=1)
        scores[start : start + block.shape[0]] = np.take_along_axis(result, order, axis=1)
    return indices, scores


def faiss_index(items, dim, distance):
    """A faiss ``IndexFlatL2`` (L2 kinds) or ``IndexFlatIP`` (angular, cosine, dot) of the items."""
    faiss = faiss_module()
    kind = score_kind(distance)
    if kind is None:
        raise ValueError(
            "EmbeddingIndex(backend='faiss') supports the distances L2, squared-L2, angular, "
            f"cosine and dot, not {distance!r}: use backend='exact' or 'keras'."
        )
    if needs_normalization(distance):
        items = l2_normalize(items)
    index = faiss.IndexFlatL2(dim) if kind in ("L2", "squared-L2") else faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(items, dtype=np.float32))
    return index


def search_faiss(queries, index, k, distance):
    """Search a :func:`faiss_index`."""
    kind = score_kind(distance)
    if needs_normalization(distance):
        queries = l2_normalize(queries)
    values, indices = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    if kind == "L2":
        values = np.sqrt(np.maximum(values, 0.0))
    elif kind == "squared-L2":
        values = np.maximum(values, 0.0)
    elif kind == "angular":
        values = np.maximum(1.0 - values, 0.0)
    return indices.astype(np.int64), values.astype(np.float32)
