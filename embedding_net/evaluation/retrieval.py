"""Retrieval and classification metrics of embeddings with class labels.

* :func:`retrieval_metrics`: precision@1, R-precision, MAP@R (Musgrave et al. 2020, "A Metric
  Learning Reality Check") and recall@k, query set vs reference set or leave-one-out.
* :func:`knn_accuracy`: k-nearest-neighbour classification top-1 / top-N accuracy.
* :func:`clustering_metrics`: NMI / AMI of k-means clusters.

Ranking ties are pessimistic (a different-label item at exactly the same distance as a
same-label item is ranked before it), so results never depend on the order of the data.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation._inputs import (
    DistanceChunks,
    check_embeddings,
    check_labels,
    check_positive_int,
)
from embedding_net.evaluation._ranking import LabelGroups, match_ranks

__all__ = ["clustering_metrics", "knn_accuracy", "retrieval_metrics"]


def _query_reference(query_embeddings, query_labels, reference_embeddings, reference_labels):
    q = check_embeddings(query_embeddings, "query_embeddings")
    ql = check_labels(query_labels, q.shape[0], "query_labels")
    if (reference_embeddings is None) != (reference_labels is None):
        raise ValueError(
            "give both `reference_embeddings` and `reference_labels`, or neither "
            "(leave-one-out on the queries)."
        )
    if reference_embeddings is None:
        return q, ql, q, ql, True
    r = check_embeddings(reference_embeddings, "reference_embeddings")
    rl = check_labels(reference_labels, r.shape[0], "reference_labels")
    if r.shape[1] != q.shape[1]:
        raise ValueError(
            f"`reference_embeddings` has dimension {r.shape[1]} but `query_embeddings` has "
            f"dimension {q.shape[1]}."
        )
    return q, ql, r, rl, False


def _add_chunk_totals(totals, rows, position, rank, counts, n_rows):
    """Adds a chunk's precision@1, R-precision and MAP@R sums to ``totals``; returns the
    queries with a match and the rank of each one's first match."""
    valid = counts > 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first = rank[starts[valid]]
    big_r = counts[rows]  # R of each match's query
    within_r = rank <= big_r
    hits = np.bincount(rows, weights=within_r, minlength=n_rows)[valid]
    ap = np.bincount(rows, weights=within_r * (position + 1) / rank, minlength=n_rows)[valid]
    totals["p1"] += float(np.sum(first == 1))
    totals["rp"] += float(np.sum(hits / counts[valid]))
    totals["map"] += float(np.sum(ap / counts[valid]))
    return valid, first


def retrieval_metrics(
    query_embeddings,
    query_labels,
    reference_embeddings=None,
    reference_labels=None,
    ks=(1, 5, 10),
    distance: str = "euclidean",
    chunk_size: int = 512,
) -> dict:
    """Precision@1, R-precision, MAP@R and recall@k.

    For each query, the relevant items are the references with the same label (the query
    itself excluded in leave-one-out mode); R is their number. Queries with R = 0 are skipped.

    * precision@1: the nearest reference has the query's label;
    * R-precision: fraction of relevant items among the R nearest;
    * MAP@R: ``(1/R) * sum_{i<=R} P(i) * rel(i)``, P(i) = precision of the i nearest;
    * recall@k: at least one relevant item among the k nearest (the re-id / SOP "recall").

    Args:
        query_embeddings: float array (n_query, dim).
        query_labels: array (n_query,) of int or str labels.
        reference_embeddings: float array (n_ref, dim), or None for leave-one-out.
        reference_labels: array (n_ref,), or None.
        ks: the k of recall@k.
        distance: distance name or ``Distance`` (see :mod:`embedding_net.evaluation.scores`);
            only the ranking it gives matters.
        chunk_size: queries processed at once (memory O(chunk_size * n_ref)).

    Returns:
        dict with ``precision_at_1``, ``r_precision``, ``map_at_r``, ``recall_at_{k}`` for k
        in ks, and ``num_valid_queries``.

    Raises:
        ValueError: naming the argument for bad inputs, or when no query has a relevant item.
    """
    q, ql, r, rl, loo = _query_reference(
        query_embeddings, query_labels, reference_embeddings, reference_labels
    )
    ks = tuple(check_positive_int(k, "ks") for k in ks)
    totals = {"p1": 0.0, "rp": 0.0, "map": 0.0}
    recall = dict.fromkeys(ks, 0.0)
    n_valid = 0
    groups = LabelGroups(rl)
    for start, stop, d in DistanceChunks(q, r, distance, chunk_size, ranking_only=True):
        same_rows, same_cols = groups.pairs(ql[start:stop])
        rows, cols = same_rows, same_cols
        if loo:
            keep = cols != rows + start
            rows, cols = rows[keep], cols[keep]
        rows, position, rank, counts = match_ranks(
            d, rows, cols, same_rows, same_cols, overwrite=True
        )
        valid, first = _add_chunk_totals(totals, rows, position, rank, counts, d.shape[0])
        for k in ks:
            recall[k] += float(np.sum(first <= k))
        n_valid += int(valid.sum())
    if n_valid == 0:
        raise ValueError(
            "no query has a reference with the same label; check `query_labels` / "
            "`reference_labels` (leave-one-out needs classes with at least 2 items)."
        )
    result = {
        "precision_at_1": totals["p1"] / n_valid,
        "r_precision": totals["rp"] / n_valid,
        "map_at_r": totals["map"] / n_valid,
    }
    for k in ks:
        result[f"recall_at_{k}"] = recall[k] / n_valid
    result["num_valid_queries"] = n_valid
    return result


def knn_accuracy(
    query_embeddings,
    query_labels,
    reference_embeddings=None,
    reference_labels=None,
    k: int = 1,
    top=(1, 5),
    distance: str = "euclidean",
    chunk_size: int = 512,
) -> dict:
    """k-nearest-neighbour classification accuracy, top-1 and top-N.

    Definition: each class of the references gets a score (votes, nearest) where ``votes``
    is its number of members among the query's k nearest references and ``nearest`` is the
    distance of its closest member. Classes are ranked by more votes first, then smaller
    ``nearest``; a class tied with the true class on both counts is ranked before it
    (pessimistic). top-N is correct when the true class is among the first N classes. With
    ``k=1`` this is: the true label is among the first N *distinct* labels met when walking
    the neighbours from nearest to farthest. Neighbours tied at the k-th distance are taken
    in reference order. Every query counts; one whose class has no reference (a singleton
    in leave-one-out) is always wrong.

    Args:
        query_embeddings: float array (n_query, dim).
        query_labels: array (n_query,).
        reference_embeddings: float array (n_ref, dim), or None for leave-one-out on the
            queries (each query is classified by all the others).
        reference_labels: array (n_ref,), or None.
        k: number of voting neighbours.
        top: the N of the returned top-N accuracies.
        distance: distance name or ``Distance`` (see :mod:`embedding_net.evaluation.scores`);
            only the ranking it gives matters.
        chunk_size: queries processed at once.

    Returns:
        dict ``{"top1": float, "top5": float}`` (one key per entry of ``top``).
    """
    q, ql, r, rl, loo = _query_reference(
        query_embeddings, query_labels, reference_embeddings, reference_labels
    )
    k = check_positive_int(k, "k")
    top = tuple(check_positive_int(n, "top") for n in top)
    n_ref = r.shape[0] - (1 if loo else 0)
    if n_ref < 1:
        raise ValueError("leave-one-out needs at least 2 query embeddings.")
    if k > n_ref:
        raise ValueError(f"`k` ({k}) is larger than the number of references ({n_ref}).")
    classes, ref_class = np.unique(rl, return_inverse=True)
    n_classes = classes.shape[0]
    order = np.argsort(ref_class, kind="stable")
    r_sorted, class_sorted = r[order], ref_class[order]
    class_starts = np.searchsorted(class_sorted, np.arange(n_classes))
    position_of = np.empty_like(order)
    position_of[order] = np.arange(order.shape[0])
    # class index of each query label; -1 when the label is not among the references
    q_class = np.searchsorted(classes, ql)
    q_class = np.where(q_class < n_classes, q_class, 0)
    q_class = np.where(classes[q_class] == ql, q_class, -1)

    correct = dict.fromkeys(top, 0)
    for start, stop, d in DistanceChunks(q, r_sorted, distance, chunk_size, ranking_only=True):
        rows = np.arange(stop - start)
        if loo:
            d[rows, position_of[start:stop]] = np.inf
        nearest = np.minimum.reduceat(d, class_starts, axis=1)  # (rows, classes)
        nn = _k_nearest(d, k, position_of)
        votes = np.zeros((rows.shape[0], n_classes), dtype=np.int64)
        np.add.at(votes, (np.repeat(rows, k), class_sorted[nn].ravel()), 1)
        true_class = q_class[start:stop]
        known = true_class >= 0
        tc = np.where(known, true_class, 0)
        true_votes = votes[rows, tc][:, None]
        true_nearest = nearest[rows, tc][:, None]
        better = (votes > true_votes) | ((votes == true_votes) & (nearest <= true_nearest))
        better[rows, tc] = False
        rank = 1 + better.sum(axis=1)
        usable = known & np.isfinite(true_nearest[:, 0])
        for n in top:
            correct[n] += int(np.sum(usable & (rank <= n)))
    return {f"top{n}": correct[n] / q.shape[0] for n in top}


def _k_nearest(d: np.ndarray, k: int, position_of: np.ndarray) -> np.ndarray:
    """The k nearest columns of each row (as a set); ties at the k-th distance are taken in
    original reference order (``d``'s columns are the references sorted by class and
    ``position_of[i]`` is the column of original reference ``i``)."""
    if k == 1:
        part = np.argmin(d, axis=1)[:, None]
    else:
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(d, part, axis=1).max(axis=1, keepdims=True)
    if np.sum(d <= kth) > k * d.shape[0]:  # ties at the k-th distance: exact order
        in_reference_order = np.take(d, position_of, axis=1)  # C order: fast row sorts
        return position_of[np.argsort(in_reference_order, axis=1, kind="stable")[:, :k]]
    return part


def clustering_metrics(embeddings, labels, seed: int = 0, n_init: int = 10) -> dict:
    """NMI and AMI between the labels and k-means clusters of the embeddings.

    k-means (scikit-learn, ``n_clusters`` = number of distinct labels, ``n_init`` restarts,
    ``random_state=seed``) clusters the embeddings; NMI uses the arithmetic-mean
    normalisation (scikit-learn's default).

    Args:
        embeddings: float array (n, dim).
        labels: array (n,).
        seed: k-means random state.
        n_init: k-means restarts.

    Returns:
        dict ``{"nmi": float, "ami": float}``.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    x = check_embeddings(embeddings, "embeddings")
    y = check_labels(labels, x.shape[0], "labels")
    n_clusters = np.unique(y).shape[0]
    clusters = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(x)
    return {
        "nmi": float(normalized_mutual_info_score(y, clusters)),
        "ami": float(adjusted_mutual_info_score(y, clusters)),
    }
