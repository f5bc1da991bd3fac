"""Retrieval / kNN / clustering metrics against per-query loops and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.evaluation import clustering_metrics, knn_accuracy, retrieval_metrics


def dist_matrix(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def reference_retrieval(d, ql, rl, ks, loo):
    """Per-query loop: sort by distance, different labels first among ties."""
    out = {"p1": [], "rp": [], "map": [], **{k: [] for k in ks}}
    for i in range(d.shape[0]):
        keep = np.ones(d.shape[1], bool)
        if loo:
            keep[i] = False
        rel = rl[keep] == ql[i]
        big_r = rel.sum()
        if big_r == 0:
            continue
        order = np.lexsort((rel, d[i][keep]))
        rel = rel[order]
        out["p1"].append(float(rel[0]))
        out["rp"].append(rel[:big_r].mean())
        precision = np.cumsum(rel) / np.arange(1, len(rel) + 1)
        out["map"].append(np.sum(precision[:big_r] * rel[:big_r]) / big_r)
        for k in ks:
            out[k].append(float(rel[:k].any()))
    return {key: np.mean(v) for key, v in out.items()}, len(out["p1"])


@pytest.mark.parametrize("fraction", [0.0, 2.0])
@pytest.mark.parametrize("loo", [True, False])
def test_retrieval_matches_reference_loop(loo, fraction, monkeypatch):
    from embedding_net.evaluation import _ranking

    monkeypatch.setattr(_ranking, "FULL_SORT_FRACTION", fraction)  # both ranking paths
    rng = np.random.default_rng(0)
    q = rng.standard_normal((70, 5))
    ql = rng.integers(0, 8, 70)
    r = None if loo else rng.standard_normal((150, 5))
    rl = None if loo else rng.integers(0, 9, 150)
    res = retrieval_metrics(q, ql, r, rl, ks=(1, 2, 10), chunk_size=9)
    d = dist_matrix(q, q if loo else r)
    ref, n = reference_retrieval(d, ql, ql if loo else rl, (1, 2, 10), loo)
    assert res["num_valid_queries"] == n
    assert res["precision_at_1"] == pytest.approx(ref["p1"])
    assert res["r_precision"] == pytest.approx(ref["rp"])
    assert res["map_at_r"] == pytest.approx(ref["map"])
    for k in (1, 2, 10):
        assert res[f"recall_at_{k}"] == pytest.approx(ref[k])
    assert res["recall_at_1"] == res["precision_at_1"]


def test_retrieval_hand_case_and_ties():
    # query 0 at 0; refs: a at 1, b at 2, a at 3 -> ranking a b a, R=2
    q = np.array([[0.0]])
    r = np.array([[1.0], [2.0], [3.0]])
    res = retrieval_metrics(q, ["a"], r, ["a", "b", "a"], ks=(1, 2))
    assert res["precision_at_1"] == 1.0
    assert res["r_precision"] == pytest.approx(0.5)
    assert res["map_at_r"] == pytest.approx(0.5)  # (1/1 + 0) / 2
    # identical embeddings: all tied, different labels first
    same = retrieval_metrics(np.zeros((1, 2)), [0], np.zeros((3, 2)), [0, 1, 1], ks=(2, 3))
    assert same["precision_at_1"] == 0.0
    assert same["recall_at_2"] == 0.0
    assert same["recall_at_3"] == 1.0


def test_retrieval_perfect_and_errors():
    labels = np.repeat(np.arange(5), 4)
    emb = np.eye(5)[labels] + 0.01 * np.random.default_rng(1).standard_normal((20, 5))
    res = retrieval_metrics(emb, labels, distance="cosine")
    assert res["precision_at_1"] == res["r_precision"] == res["map_at_r"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same label"):
        retrieval_metrics(emb[:5], np.arange(5))  # leave-one-out, all singletons
    with pytest.raises(ValueError, match="reference_labels"):
        retrieval_metrics(emb, labels, emb)
    with pytest.raises(ValueError, match="query_labels"):
        retrieval_metrics(emb, labels[:-1])
    with pytest.raises(ValueError, match="query_embeddings"):
        retrieval_metrics(np.full((3, 2), np.nan), [0, 0, 1])


def reference_knn(d, ql, rl, k, top, loo):
    """Loop: votes of the k nearest, then nearest member distance, pessimistic ties."""
    correct = dict.fromkeys(top, 0)
    for i in range(d.shape[0]):
        row = d[i].copy()
        if loo:
            row[i] = np.inf
        order = np.argsort(row, kind="stable")[:k]
        classes = np.unique(rl)
        score = {}
        for c in classes:
            member = (rl == c) & np.isfinite(row)
            score[c] = (int(np.sum(rl[order] == c)), row[member].min() if member.any() else np.inf)
        if ql[i] not in score or not np.isfinite(score[ql[i]][1]):
            continue
        v, m = score[ql[i]]
        rank = 1 + sum(
            1 for c, (vc, mc) in score.items() if c != ql[i] and (vc > v or (vc == v and mc <= m))
        )
        for n in top:
            correct[n] += rank <= n
    return {f"top{n}": correct[n] / d.shape[0] for n in top}


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("loo", [True, False])
def test_knn_matches_reference_loop(k, loo):
    rng = np.random.default_rng(2)
    q = rng.standard_normal((50, 4))
    ql = rng.integers(0, 10, 50)
    r = None if loo else rng.standard_normal((80, 4))
    rl = None if loo else rng.integers(0, 10, 80)
    res = knn_accuracy(q, ql, r, rl, k=k, top=(1, 3, 5), chunk_size=7)
    ref = reference_knn(dist_matrix(q, q if loo else r), ql, ql if loo else rl, k, (1, 3, 5), loo)
    assert res == pytest.approx(ref)


def test_knn_agrees_with_sklearn_and_distinct_label_definition():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(3)
    r = rng.standard_normal((100, 3))
    rl = rng.integers(0, 2, 100)
    q = rng.standard_normal((40, 3))
    ql = rng.integers(0, 2, 40)
    pred = KNeighborsClassifier(n_neighbors=3).fit(r, rl).predict(q)  # odd k, 2 classes: no ties
    assert knn_accuracy(q, ql, r, rl, k=3, top=(1,))["top1"] == pytest.approx(np.mean(pred == ql))
    # k=1, top-N: the true label is among the first N distinct labels of the neighbour list
    rl = rng.integers(0, 6, 100)
    ql = rng.integers(0, 6, 40)
    d = dist_matrix(q, r)
    hits = 0
    for i in range(40):
        distinct = list(dict.fromkeys(rl[np.argsort(d[i])]))
        hits += ql[i] in distinct[:3]
    assert knn_accuracy(q, ql, r, rl, top=(3,))["top3"] == pytest.approx(hits / 40)


def test_knn_unknown_labels_count_as_wrong_and_errors():
    r = np.array([[0.0], [1.0]])
    res = knn_accuracy(np.array([[0.1], [0.9]]), ["x", "b"], r, ["a", "b"], top=(1, 2))
    assert res == {"top1": 0.5, "top2": 0.5}
    with pytest.raises(ValueError, match="k"):
        knn_accuracy(r, [0, 1], k=2)  # leave-one-out has only one reference
    with pytest.raises(ValueError, match="reference_embeddings"):
        knn_accuracy(r, [0, 1], np.zeros((2, 3)), [0, 1])


def test_clustering_metrics():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 25)
    centers = rng.standard_normal((4, 6)) * 20
    emb = centers[labels] + rng.standard_normal((100, 6))
    res = clustering_metrics(emb, labels)
    assert res["nmi"] == pytest.approx(1.0)
    assert res["ami"] == pytest.approx(1.0)
    noise = clustering_metrics(rng.standard_normal((100, 6)), labels, seed=1)
    assert abs(noise["ami"]) < 0.1
    assert clustering_metrics(emb, labels + 7) == res  # label names do not matter
    with pytest.raises(ValueError, match="labels"):
        clustering_metrics(emb, labels[:5])


def test_one_class():
    rng = np.random.default_rng(5)
    emb = rng.standard_normal((6, 3))
    res = retrieval_metrics(emb, np.zeros(6), ks=(1,))
    assert res["precision_at_1"] == res["r_precision"] == res["map_at_r"] == 1.0
    assert knn_accuracy(emb, np.zeros(6), k=3) == {"top1": 1.0, "top5": 1.0}


def test_knn_ties_match_reference_loop():
    rng = np.random.default_rng(6)
    q = rng.integers(0, 2, (30, 2)).astype(float)  # many identical points: ties everywhere
    ql = rng.integers(0, 4, 30)
    for k in (1, 3):
        res = knn_accuracy(q, ql, k=k, top=(1, 2))
        assert res == pytest.approx(reference_knn(dist_matrix(q, q), ql, ql, k, (1, 2), True))
