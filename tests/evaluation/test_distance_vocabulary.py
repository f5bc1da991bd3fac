"""One distance vocabulary in evaluation: names of embedding_net.distances, distance vs
similarity, identical rankings, the threshold convention, legacy index files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedding_net.distances import CosineSimilarity, EuclideanDistance, LpDistance
from embedding_net.evaluation import (
    EmbeddingIndex,
    balanced_threshold,
    estimate_threshold,
    is_match,
    is_similarity,
    knn_accuracy,
    pair_scores,
    reid_metrics,
    retrieval_metrics,
)
from embedding_net.evaluation.scores import score_matrix

NAMES = ["L2", "euclidean", "squared-L2", "squared_euclidean", "angular", "cosine", "dot"]


def _data(seed=0, n=40, dim=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)), rng.standard_normal((n, dim))


def _numpy(a, b, name):
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    diff = np.sum((a - b) ** 2, axis=1)
    return {
        "L2": np.sqrt(diff),
        "euclidean": np.sqrt(diff),
        "squared-L2": diff,
        "squared_euclidean": diff,
        "angular": np.maximum(1 - np.sum(an * bn, 1), 0),
        "cosine": np.sum(an * bn, 1),
        "dot": np.sum(a * b, 1),
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_pair_scores_match_numpy_and_declare_their_kind(name):
    a, b = _data()
    np.testing.assert_allclose(pair_scores(a, b, name), _numpy(a, b, name), atol=1e-12)
    assert is_similarity(name) == (name in ("cosine", "dot"))
    # the matrix form agrees with the row-wise form on its diagonal
    np.testing.assert_allclose(np.diag(score_matrix(a, b, name)), _numpy(a, b, name), atol=1e-9)


def test_names_are_case_insensitive_and_objects_work():
    a, b = _data(1)
    np.testing.assert_allclose(pair_scores(a, b, "Squared-l2"), pair_scores(a, b, "squared-L2"))
    np.testing.assert_allclose(pair_scores(a, b, CosineSimilarity()), pair_scores(a, b, "cosine"))
    normalized = pair_scores(a, b, EuclideanDistance(normalize_embeddings=True))
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(normalized, np.linalg.norm(an - bn, axis=1), atol=1e-12)
    # a Distance without a numpy kind goes through the object (L1 here)
    l1 = pair_scores(a, b, LpDistance(p=1))
    np.testing.assert_allclose(l1, np.abs(a - b).sum(1), atol=1e-4)
    with pytest.raises(ValueError, match="L2"):  # the error lists the valid names
        pair_scores(a, b, "manhattan")


def test_identical_and_zero_embeddings():
    a = np.ones((3, 4))
    np.testing.assert_allclose(pair_scores(a, a, "L2"), 0.0)
    np.testing.assert_allclose(pair_scores(a, a, "angular"), 0.0, atol=1e-12)
    np.testing.assert_allclose(pair_scores(a, a, "cosine"), 1.0)
    zero = np.zeros((2, 4))
    assert np.all(np.isfinite(pair_scores(zero, zero, "cosine")))


def test_threshold_convention():
    assert is_match(0.3, 0.5, "L2") and not is_match(0.7, 0.5, "L2")
    assert is_match(0.7, 0.5, "cosine") and not is_match(0.3, 0.5, "cosine")
    np.testing.assert_array_equal(is_match([0.1, 0.9], 0.5, "angular"), [True, False])
    # balanced_threshold in similarity units is the mirror of the distance one
    s = np.array([0.9, 0.8, 0.2, 0.1])
    y = np.array([True, True, False, False])
    assert balanced_threshold(s, y, higher_is_similar=True) == pytest.approx(0.5)
    assert balanced_threshold(-s, y) == pytest.approx(-0.5)


def test_estimate_threshold_in_similarity_units():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.05, (10, 4)) + [1, 0, 0, 0]
    b = rng.normal(0.0, 0.05, (10, 4)) + [0, 1, 0, 0]
    x = np.concatenate([a, b])
    labels = np.repeat([0, 1], 10)
    cos = score_matrix(x, None, "cosine")
    same = labels[:, None] == labels[None]
    off = ~np.eye(20, dtype=bool)
    t = estimate_threshold(x, labels, "cosine")
    assert cos[~same].max() < t < cos[same & off].min()
    t_angular = estimate_threshold(x, labels, "angular")
    assert t_angular == pytest.approx(1 - t, abs=1e-9)


@pytest.mark.parametrize("pair", [("euclidean", "L2"), ("cosine", "angular"), ("cosine", "dot")])
def test_rankings_are_identical_across_equivalent_names(pair):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((30, 8))
    q /= np.linalg.norm(q, axis=1, keepdims=True)  # unit rows: dot ranks like cosine
    g = rng.standard_normal((60, 8))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    ql, gl = rng.integers(0, 5, 30), rng.integers(0, 5, 60)
    qc, gc = np.zeros(30, int), np.ones(60, int)
    first, second = pair
    r1 = retrieval_metrics(q, ql, g, gl, distance=first)
    r2 = retrieval_metrics(q, ql, g, gl, distance=second)
    assert r1 == pytest.approx(r2)
    m1 = reid_metrics(q, g, ql, gl, qc, gc, distance=first)
    m2 = reid_metrics(q, g, ql, gl, qc, gc, distance=second)
    np.testing.assert_allclose(m1["cmc"], m2["cmc"])
    assert m1["mAP"] == pytest.approx(m2["mAP"])
    assert knn_accuracy(q, ql, g, gl, distance=first) == knn_accuracy(q, ql, g, gl, distance=second)
    i1, i2 = EmbeddingIndex(first), EmbeddingIndex(second)
    i1.add(g)
    i2.add(g)
    np.testing.assert_array_equal(i1.search(q, 7).indices, i2.search(q, 7).indices)


def test_cosine_index_returns_similarities_nearest_first():
    rng = np.random.default_rng(4)
    data = rng.standard_normal((50, 5)).astype(np.float32)
    index = EmbeddingIndex(distance="cosine")
    index.add(data)
    res = index.search(data[:3], k=4)
    assert res.higher_is_closer
    np.testing.assert_array_equal(res.indices[:, 0], [0, 1, 2])
    np.testing.assert_allclose(res.scores[:, 0], 1.0, atol=1e-6)
    assert np.all(np.diff(res.scores, axis=1) <= 0)  # decreasing similarities
    np.testing.assert_allclose(res.distances, -res.scores)
    assert res["scores"] is res.scores


def test_format_1_cosine_index_loads_as_angular(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.standard_normal((20, 4)).astype(np.float32)
    index = EmbeddingIndex(distance="angular")
    index.add(data)
    path = tmp_path / "v2.npz"
    index.save(path)
    with np.load(path) as f:
        header = json.loads(str(f["header"]))
        arrays = {k: f[k] for k in f.files if k != "header"}
    assert header["version"] == 2
    header.update(version=1, distance="cosine")  # as written by the previous release
    old = tmp_path / "v1.npz"
    np.savez(old, header=np.asarray(json.dumps(header)), **arrays)
    loaded = EmbeddingIndex.load(old)
    assert loaded.distance == "angular"
    np.testing.assert_allclose(loaded.search(data[:2], 3).scores, index.search(data[:2], 3).scores)


def test_distance_objects_round_trip_through_the_index_file(tmp_path):
    index = EmbeddingIndex(distance=EuclideanDistance(normalize_embeddings=True))
    index.add(np.eye(3) * 5)
    index.save(tmp_path / "o.npz")
    loaded = EmbeddingIndex.load(tmp_path / "o.npz")
    assert isinstance(loaded.distance, EuclideanDistance)
    assert loaded.distance.normalize_embeddings
    np.testing.assert_allclose(
        loaded.search(np.eye(3)[:1], 2).scores, [[0.0, np.sqrt(2)]], atol=1e-6
    )


def test_metric_argument_is_deprecated():
    with pytest.warns(DeprecationWarning, match="distance"):
        index = EmbeddingIndex(metric="cosine")
    assert index.distance == "cosine"


def test_faiss_refuses_distances_without_a_numpy_kind():
    import importlib.util

    if importlib.util.find_spec("faiss") is None:
        pytest.skip("faiss is not installed")
    index = EmbeddingIndex(distance=LpDistance(p=1), backend="faiss")
    index.add(np.eye(3))
    with pytest.raises(ValueError, match="faiss"):
        index.search(np.eye(3), 1)
