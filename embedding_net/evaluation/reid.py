"""Person / vehicle re-identification metrics: CMC, mAP and mINP (Market-1501 protocol).

Protocol (as torchreid's ``eval_market1501``):

* gallery items with the query's id AND the query's camera are removed for that query;
* gallery items with id ``-1`` are junk (distractor detections) and ignored;
* queries left without any valid match are skipped; metrics are averaged over the others.

Ranking ties are resolved pessimistically: a non-matching gallery item at exactly the same
distance as a match is ranked before it (so results do not depend on gallery order). Work is
chunked over queries: memory is O(chunk_size * n_gallery), never O(n_query * n_gallery).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from embedding_net.evaluation._inputs import (
    DistanceChunks,
    check_distance_matrix,
    check_embeddings,
    check_labels,
    check_positive_int,
    matrix_chunks,
)
from embedding_net.evaluation._ranking import LabelGroups, match_ranks

__all__ = ["reid_metrics", "reid_metrics_from_distances"]

JUNK_ID = -1


def reid_metrics(
    query_embeddings,
    gallery_embeddings,
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    distance: str = "euclidean",
    max_rank: int = 50,
    single_shot: bool = False,
    repeats: int = 10,
    seed: int = 0,
    chunk_size: int = 512,
) -> dict:
    """CMC, mAP and mINP of a re-id query/gallery split.

    Args:
        query_embeddings: float array or tensor (n_query, dim).
        gallery_embeddings: float array or tensor (n_gallery, dim).
        query_ids: int array (n_query,) identity of each query.
        gallery_ids: int array (n_gallery,); ``-1`` marks junk images, ignored.
        query_cams: array (n_query,) camera of each query.
        gallery_cams: array (n_gallery,) camera of each gallery image.
        distance: a distance name (``"L2"`` alias ``"euclidean"``, ``"squared-L2"``,
            ``"angular"``, ``"cosine"`` similarity, ``"dot"``) or ``Distance``; only the
            ranking it gives matters.
        max_rank: length of the returned CMC curve.
        single_shot: CUHK03 single-shot protocol: for each query and each repeat, one random
            valid gallery image per identity is kept; every metric is computed on that
            reduced gallery and averaged over ``repeats``, as torchreid's ``eval_cuhk03``
            does for CMC and mAP (here junk ids are also ignored and mINP is added).
        repeats: number of random single-shot galleries (single_shot only).
        seed: seed of the single-shot sampling; the draw of query ``i`` uses
            ``np.random.default_rng((seed, i))`` so results do not depend on ``chunk_size``.
        chunk_size: queries processed at once.

    Returns:
        dict with ``cmc`` (float array (max_rank,), ``cmc[k]`` = fraction of valid queries
        whose first match is within the top k+1), ``mAP``, ``mINP`` (mean of
        ``n_matches / rank_of_last_match``) and ``num_valid_queries``.

    Raises:
        ValueError: naming the argument for empty / NaN inputs, mismatched lengths, or when
            no query has a valid match in the gallery.
    """
    q = check_embeddings(query_embeddings, "query_embeddings")
    g = check_embeddings(gallery_embeddings, "gallery_embeddings")
    if q.shape[1] != g.shape[1]:
        raise ValueError(
            f"`query_embeddings` has dimension {q.shape[1]} but `gallery_embeddings` has "
            f"dimension {g.shape[1]}."
        )
    chunks = DistanceChunks(q, g, distance=distance, chunk_size=chunk_size, ranking_only=True)
    return _reid_from_chunks(
        chunks,
        q.shape[0],
        g.shape[0],
        query_ids,
        gallery_ids,
        query_cams,
        gallery_cams,
        max_rank,
        single_shot,
        repeats,
        seed,
    )


def reid_metrics_from_distances(
    distmat,
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    max_rank: int = 50,
    single_shot: bool = False,
    repeats: int = 10,
    seed: int = 0,
    chunk_size: int = 512,
) -> dict:
    """Same as :func:`reid_metrics` from a precomputed distance matrix.

    Args:
        distmat: float array (n_query, n_gallery), smaller = more similar (for example the
            output of :func:`embedding_net.evaluation.k_reciprocal_rerank`).
        query_ids, gallery_ids, query_cams, gallery_cams, max_rank, single_shot, repeats,
            seed, chunk_size: as in :func:`reid_metrics`.

    Returns:
        dict with ``cmc``, ``mAP``, ``mINP``, ``num_valid_queries``.
    """
    d = check_distance_matrix(distmat, "distmat")
    return _reid_from_chunks(
        matrix_chunks(d, chunk_size),
        d.shape[0],
        d.shape[1],
        query_ids,
        gallery_ids,
        query_cams,
        gallery_cams,
        max_rank,
        single_shot,
        repeats,
        seed,
    )


def _reid_from_chunks(
    chunks: Iterable,
    n_query: int,
    n_gallery: int,
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    max_rank,
    single_shot,
    repeats,
    seed,
) -> dict:
    qid = check_labels(query_ids, n_query, "query_ids")
    gid = check_labels(gallery_ids, n_gallery, "gallery_ids")
    qcam = check_labels(query_cams, n_query, "query_cams")
    gcam = check_labels(gallery_cams, n_gallery, "gallery_cams")
    max_rank = check_positive_int(max_rank, "max_rank")
    if single_shot:
        repeats = check_positive_int(repeats, "repeats")
    not_junk = gid != JUNK_ID if gid.dtype.kind in "iuf" else np.ones(n_gallery, dtype=bool)
    has_junk = not bool(np.all(not_junk))
    owned = False
    if has_junk and not single_shot:
        # junk is ignored by every query: drop those gallery items once
        kept = np.flatnonzero(not_junk)
        gid, gcam = gid[kept], gcam[kept]
        # np.take keeps each block C-ordered (d[:, kept] is F-ordered: 6x slower to sort)
        chunks = ((start, stop, np.take(d, kept, axis=1)) for start, stop, d in chunks)
        owned = True
    elif isinstance(chunks, DistanceChunks):
        owned = True  # fresh blocks, may be sorted in place
    groups = LabelGroups(gid)
    gallery_groups = _groups(gid) if single_shot else None

    first_hist = np.zeros(max_rank + 1, dtype=np.float64)  # last bin: first match > max_rank
    ap_sum = 0.0
    inp_sum = 0.0
    n_valid = 0
    for start, stop, d in chunks:
        same_rows, same_cols = groups.pairs(qid[start:stop])
        keep = qcam[start:stop][same_rows] != gcam[same_cols]
        if single_shot:
            keep &= not_junk[same_cols]
        rows, cols = same_rows[keep], same_cols[keep]
        if single_shot:
            same_id = qid[start:stop, None] == gid[None, :]
            stats = _single_shot_chunk(
                d,
                rows,
                same_id,
                not_junk,
                qcam[start:stop],
                gcam,
                gallery_groups,
                repeats,
                seed,
                start,
                max_rank,
            )
        else:
            stats = _multi_shot_chunk(d, rows, cols, same_rows, same_cols, max_rank, owned)
        first_hist += stats[0]
        ap_sum += stats[1]
        inp_sum += stats[2]
        n_valid += stats[3]
    if n_valid == 0:
        raise ValueError(
            "no query has a valid match in the gallery (same id seen by another camera); "
            "check `query_ids`, `gallery_ids`, `query_cams` and `gallery_cams`."
        )
    cmc = np.cumsum(first_hist[:max_rank]) / n_valid
    return {
        "cmc": cmc,
        "mAP": float(ap_sum / n_valid),
        "mINP": float(inp_sum / n_valid),
        "num_valid_queries": int(n_valid),
    }


def _multi_shot_chunk(d, rows, cols, blank_rows, blank_cols, max_rank, overwrite):
    rows, position, rank, counts = match_ranks(d, rows, cols, blank_rows, blank_cols, overwrite)
    valid = counts > 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[valid]
    first = rank[starts]
    last = rank[starts + counts[valid] - 1]
    hist = np.bincount(np.minimum(first, max_rank + 1) - 1, minlength=max_rank + 1)
    precision = (position + 1) / rank
    ap = np.bincount(rows, weights=precision, minlength=d.shape[0])[valid] / counts[valid]
    inp = counts[valid] / last
    return hist[: max_rank + 1], float(ap.sum()), float(inp.sum()), int(valid.sum())


def _groups(ids):
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    boundaries = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    starts = np.concatenate([[0], boundaries])
    sizes = np.diff(np.concatenate([starts, [ids.shape[0]]]))
    return order, starts, sizes


def _sorted_keys(seed, query_index, repeats, n_gallery, out=None):
    """Keys of one query in id-sorted gallery order (``np.argsort(gallery_ids, stable)``)."""
    rng = np.random.default_rng((int(seed), int(query_index)))
    return rng.random((repeats, n_gallery), dtype=np.float32, out=out)


def single_shot_keys(seed: int, query_index: int, repeats: int, gallery_ids) -> np.ndarray:
    """Single-shot sampling keys of one query, float32 (repeats, n_gallery), gallery order.

    In each repeat, the valid gallery item with the smallest key of each identity is kept.
    """
    gallery_ids = np.asarray(gallery_ids)
    order = np.argsort(gallery_ids, kind="stable")
    keys = np.empty((repeats, gallery_ids.shape[0]), dtype=np.float32)
    keys[:, order] = _sorted_keys(seed, query_index, repeats, gallery_ids.shape[0])
    return keys


def _single_shot_chunk(
    d, rows, same_id, not_junk, qcam, gcam, groups, repeats, seed, start, max_rank
):
    order, gstarts, gsizes = groups
    n_rows = d.shape[0]
    # valid items: not junk and not (same id and same camera)
    valid = ~(same_id & (qcam[:, None] == gcam[None, :]))
    valid &= not_junk[None, :]
    has_match = np.bincount(rows, minlength=n_rows) > 0
    hist = np.zeros(max_rank + 1)
    ap_sum = 0.0
    n_valid = int(has_match.sum())
    if n_valid == 0:
        return hist, 0.0, 0.0, 0
    q_rows_all = np.flatnonzero(has_match)
    # sub-blocks keep the random keys (repeats, rows, n_gallery) below ~2**24 values
    block = max(1, 2**24 // (repeats * d.shape[1]))
    for b in range(0, q_rows_all.shape[0], block):
        q_rows = q_rows_all[b : b + block]
        # np.take keeps C order (a[rows][:, order] is F-ordered: slow row-wise reductions)
        dv, valid_v, same_v = (np.take(a[q_rows], order, axis=1) for a in (d, valid, same_id))
        keys = np.empty((len(q_rows), repeats, d.shape[1]), dtype=np.float32)
        for j, r in enumerate(q_rows):
            _sorted_keys(seed, start + r, repeats, d.shape[1], out=keys[j])
        keys[~np.broadcast_to(valid_v[:, None, :], keys.shape)] = np.inf
        for rep in range(repeats):
            k = keys[:, rep, :]
            group_min = np.minimum.reduceat(k, gstarts, axis=1)
            group_min[group_min == np.inf] = -1.0  # identities without a valid item
            chosen = k == np.repeat(group_min, gsizes, axis=1)
            match = chosen & same_v  # exactly one per row
            match_d = np.where(match, dv, -np.inf).max(axis=1)
            n_before = np.sum(chosen & ~same_v & (dv <= match_d[:, None]), axis=1)
            rank = 1 + n_before
            hist += np.bincount(np.minimum(rank, max_rank + 1) - 1, minlength=max_rank + 1)
            ap_sum += float(np.sum(1.0 / rank))
    # one match per query: AP = INP = 1 / rank
    return hist / repeats, ap_sum / repeats, ap_sum / repeats, n_valid
