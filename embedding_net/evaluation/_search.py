"""The k-nearest search of :class:`~embedding_net.evaluation.EmbeddingIndex`: exact numpy,
``keras.ops`` on the active backend's device, and faiss ``IndexFlat``.

Each function returns ``(indices int64 (n, k), scores float32 (n, k))``, nearest first, ties
by position, scores in the units of the index's distance (a similarity for cosine / dot).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from embedding_net.evaluation._inputs import DistanceChunks, l2_normalize
from embedding_net.evaluation.scores import (
    needs_normalization,
    resolve_distance,
    score_kind,
    to_ranking,
)


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


def search_exact(queries, items, k, distance, chunk_size):
    """Exact search in numpy, ``chunk_size`` queries at a time."""
    distance = resolve_distance(distance)
    n = queries.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    chunks = DistanceChunks(queries, items, distance, chunk_size, ranking_only=True)
    for start, stop, d in chunks:
        if k < d.shape[1]:
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            kth = np.take_along_axis(d, part, axis=1).max(axis=1, keepdims=True)
            if np.sum(d <= kth) > k * d.shape[0]:  # ties at the k-th distance
                part = _lowest_positions_within(d, kth, k)
        else:
            part = np.broadcast_to(np.arange(d.shape[1]), d.shape)
        part_d = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, part_d), axis=1)
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
