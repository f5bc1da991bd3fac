"""Re-ranking for re-id / retrieval: k-reciprocal re-ranking and average query expansion.

:func:`k_reciprocal_rerank` follows Zhong et al., "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017, and gives the same distances as the authors' numpy code
(``re_ranking(q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value)``), with the neighbour
sets, expansion, query expansion and Jaccard distance computed with sparse matrices instead
of per-item Python loops. Memory is dominated by one dense (n_q + n_g)^2 float32 matrix, as
in the reference.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation._inputs import (
    DistanceChunks,
    check_distance_matrix,
    check_embeddings,
    check_positive_int,
    l2_normalize,
)

__all__ = ["average_query_expansion", "k_reciprocal_rerank"]


def _top_k(dist: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest entries of each row, in increasing distance order."""
    k = min(k, dist.shape[1])
    if k < dist.shape[1]:
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(dist.shape[1]), dist.shape).copy()
    order = np.argsort(np.take_along_axis(dist, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _reciprocal_sets(top: np.ndarray):
    """Boolean sparse matrix R[i, j] = j in top(i) and i in top(j) (rows = k-reciprocal sets)."""
    from scipy import sparse

    n, width = top.shape
    back = top[top]  # (n, width, width): neighbours of each neighbour
    reciprocal = np.any(back == np.arange(n)[:, None, None], axis=2)  # (n, width)
    rows = np.repeat(np.arange(n), width)[reciprocal.ravel()]
    cols = top.ravel()[reciprocal.ravel()]
    return sparse.csr_matrix((np.ones(rows.shape[0], np.float64), (rows, cols)), shape=(n, n))


def _encoding_vectors(original, top, k1: int, k2: int):
    """Sparse ``V`` (n, n): Gaussian weights over each item's expanded k-reciprocal set,
    averaged over its k2 nearest neighbours (local query expansion)."""
    from scipy import sparse

    n = original.shape[0]
    half = int(np.around(k1 / 2.0))
    top_half = top[:, : half + 1]
    recip = _reciprocal_sets(top)  # R(i, k1)
    recip_half = _reciprocal_sets(top_half)  # R(j, k1/2)

    # candidate j in R(i) adds R(j, k1/2) when |R(j, k1/2) & R(i)| > 2/3 |R(j, k1/2)|
    overlap = (recip @ recip_half.T).multiply(recip).tocsr()
    half_sizes = np.asarray(recip_half.sum(axis=1)).ravel()
    overlap.data = (overlap.data > (2.0 / 3.0) * half_sizes[overlap.indices]).astype(np.float64)
    overlap.eliminate_zeros()
    expansion = ((recip + overlap @ recip_half) > 0).astype(np.float64).tocsr()
    expansion.sort_indices()

    # V[i, j] = exp(-d_ij) / sum over i's expanded set
    rows = np.repeat(np.arange(n), np.diff(expansion.indptr))
    weights = np.exp(-original[rows, expansion.indices]).astype(np.float32)
    sums = np.bincount(rows, weights=weights, minlength=n).astype(np.float32)
    v = sparse.csr_matrix(
        ((weights / sums[rows]).astype(np.float32), expansion.indices, expansion.indptr),
        shape=(n, n),
    )

    if k2 != 1:
        top_k2 = top[:, :k2]
        averaging = sparse.csr_matrix(
            (
                np.full(n * k2, 1.0 / k2, dtype=np.float32),
                (np.repeat(np.arange(n), k2), top_k2.ravel()),
            ),
            shape=(n, n),
        )
        v = (averaging @ v).tocsr()
        v.eliminate_zeros()

    return v


def _query_jaccard(v, n_q: int) -> np.ndarray:
    """Jaccard distances (n_q, n) of the queries' encoding vectors to every item's."""
    n = v.shape[0]
    # Jaccard: sum_k min(V[i, k], V[j, k]) for queries i and all j
    v_csc = v.tocsc()
    jaccard = np.empty((n_q, n), dtype=np.float32)
    for i in range(n_q):
        start, stop = v.indptr[i], v.indptr[i + 1]
        cols = v.indices[start:stop]
        vals = v.data[start:stop]
        col_starts = v_csc.indptr[cols]
        col_counts = v_csc.indptr[cols + 1] - col_starts
        total = int(col_counts.sum())
        offsets = np.repeat(col_starts - np.cumsum(col_counts) + col_counts, col_counts)
        flat = np.arange(total) + offsets
        shared = np.minimum(v_csc.data[flat], np.repeat(vals, col_counts))
        temp_min = np.bincount(v_csc.indices[flat], weights=shared, minlength=n)
        temp_min = temp_min.astype(np.float32)
        jaccard[i] = 1.0 - temp_min / (2.0 - temp_min)

    return jaccard


def k_reciprocal_rerank(
    q_g_dist, q_q_dist, g_g_dist, k1: int = 20, k2: int = 6, lambda_value: float = 0.3
) -> np.ndarray:
    """k-reciprocal re-ranking (Zhong et al. 2017) of a query/gallery distance matrix.

    ``d* = (1 - lambda) * d_Jaccard + lambda * d_original``, where ``d_original`` is the squared
    distance divided by the maximum of its row over queries+gallery, and ``d_Jaccard`` compares
    the Gaussian-weighted k-reciprocal neighbour sets (expanded with the k1/2-reciprocal sets of
    their members, then averaged over the k2 nearest neighbours: "local query expansion").

    Args:
        q_g_dist: float array (n_q, n_g) query-gallery distances (e.g. euclidean).
        q_q_dist: float array (n_q, n_q) query-query distances.
        g_g_dist: float array (n_g, n_g) gallery-gallery distances.
        k1: size of the k-reciprocal neighbourhoods.
        k2: neighbours averaged in local query expansion (1 = none).
        lambda_value: weight of the original distance.

    Returns:
        float32 array (n_q, n_g): re-ranked distances (smaller = more similar), to be
        evaluated with :func:`embedding_net.evaluation.reid_metrics_from_distances`.
    """

    qg = check_distance_matrix(q_g_dist, "q_g_dist")
    n_q, n_g = qg.shape
    qq = check_distance_matrix(q_q_dist, "q_q_dist", shape=(n_q, n_q))
    gg = check_distance_matrix(g_g_dist, "g_g_dist", shape=(n_g, n_g))
    k1 = check_positive_int(k1, "k1")
    k2 = check_positive_int(k2, "k2")
    if not 0.0 <= float(lambda_value) <= 1.0:
        raise ValueError(f"`lambda_value` must be in [0, 1], got {lambda_value}.")
    n = n_q + n_g

    # reference: M = [[qq, qg], [qg.T, gg]] squared, original = transpose(M / max(M, axis=0)),
    # i.e. row i of M.T divided by its own maximum; built in float32 without a transposed copy
    f32 = np.float32
    original = np.block(
        [
            [qq.T.astype(f32, copy=False), qg.astype(f32, copy=False)],
            [qg.T.astype(f32, copy=False), gg.T.astype(f32, copy=False)],
        ]
    )
    np.square(original, out=original)
    original /= original.max(axis=1, keepdims=True)

    top = np.concatenate(
        [_top_k(original[i : i + 1024], k1 + 1) for i in range(0, n, 1024)], axis=0
    )
    v = _encoding_vectors(original, top, k1, k2)
    jaccard = _query_jaccard(v, n_q)
    final = jaccard * (1.0 - lambda_value) + original[:n_q] * lambda_value
    return final[:, n_q:].astype(np.float32)


def average_query_expansion(
    query_embeddings,
    gallery_embeddings,
    k: int = 5,
    distance: str = "cosine",
    normalize: bool = True,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Average query expansion (Chum et al. 2007): each query becomes the mean of itself and
    its k nearest gallery embeddings.

    ``q' = (q + sum_{j in kNN(q)} g_j) / (k + 1)``, then L2-normalised (``normalize=True``;
    use it with cosine distance or L2-normalised embeddings).

    Args:
        query_embeddings: float array (n_q, dim).
        gallery_embeddings: float array (n_g, dim).
        k: gallery neighbours averaged into each query (capped at n_g).
        distance: distance name or ``Distance`` of the neighbour search (see
            :mod:`embedding_net.evaluation.scores`).
        normalize: L2-normalise the expanded queries.
        chunk_size: queries searched at once.

    Returns:
        float32 array (n_q, dim): expanded query embeddings.
    """
    q = check_embeddings(query_embeddings, "query_embeddings").astype(np.float32, copy=False)
    g = check_embeddings(gallery_embeddings, "gallery_embeddings").astype(np.float32, copy=False)
    if q.shape[1] != g.shape[1]:
        raise ValueError(
            f"`gallery_embeddings` has dimension {g.shape[1]} but `query_embeddings` has "
            f"dimension {q.shape[1]}."
        )
    k = min(check_positive_int(k, "k"), g.shape[0])
    out = np.empty_like(q)
    for start, stop, d in DistanceChunks(q, g, distance, chunk_size, squared=True):
        nn = _top_k(d, k)
        out[start:stop] = (q[start:stop] + g[nn].sum(axis=1)) / (k + 1)
    return l2_normalize(out) if normalize else out
