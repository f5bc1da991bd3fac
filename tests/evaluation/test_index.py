"""EmbeddingIndex: search vs brute force, save/load round trip without pickle, errors."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.evaluation import EmbeddingIndex, SearchResult


def brute_force(queries, data, k, distance):
    out_i, out_d = [], []
    for q in queries:
        if distance == "euclidean":
            d = np.sqrt(((data.astype(np.float64) - q) ** 2).sum(1))
        else:
            dn = data / np.linalg.norm(data, axis=1, keepdims=True)
            d = 1 - dn @ (q / np.linalg.norm(q))
        order = sorted(range(len(d)), key=lambda i: (d[i], i))[:k]
        out_i.append(order)
        out_d.append(d[order])
    return np.array(out_i), np.array(out_d)


@pytest.mark.parametrize("distance", ["euclidean", "angular"])
def test_search_matches_brute_force(distance):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((300, 16)).astype(np.float32)
    queries = rng.standard_normal((25, 16)).astype(np.float32)
    index = EmbeddingIndex(distance=distance, chunk_size=7)
    index.add(data[:100], labels=np.arange(100) % 7, paths=[f"img{i}.jpg" for i in range(100)])
    index.add(
        data[100:], labels=np.arange(100, 300) % 7, paths=[f"img{i}.jpg" for i in range(100, 300)]
    )
    res = index.search(queries, k=6)
    ref_i, ref_d = brute_force(queries, data, 6, distance)
    np.testing.assert_array_equal(res.indices, ref_i)
    np.testing.assert_allclose(res.distances, ref_d, atol=2e-5)
    np.testing.assert_array_equal(res.labels, ref_i % 7)
    assert res.paths[0, 0] == f"img{ref_i[0, 0]}.jpg"
    assert res["indices"] is res.indices
    assert len(index) == 300 and index.dim == 16


def test_ties_ordered_by_position_and_k_clamped():
    index = EmbeddingIndex()
    index.add(np.zeros((5, 3)))
    res = index.search(np.zeros(3), k=3)
    np.testing.assert_array_equal(res.indices, [[0, 1, 2]])
    np.testing.assert_array_equal(res.distances, np.zeros((1, 3)))
    assert index.search(np.ones((2, 3)), k=50).indices.shape == (2, 5)


def test_save_load_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((40, 8)).astype(np.float32)
    index = EmbeddingIndex(distance="cosine")
    index.add(
        data,
        labels=[f"person_{i % 4}" for i in range(40)],
        paths=[f"/x/{i}.png" for i in range(40)],
        metadata=[{"camera": int(i % 3), "note": "é"} for i in range(40)],
    )
    path = tmp_path / "gallery.index"
    index.save(path)
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["gallery.index"]
    with np.load(path, allow_pickle=False) as raw:  # readable without pickle
        assert set(raw.files) >= {"header", "embeddings", "labels", "paths"}
    loaded = EmbeddingIndex.load(path)
    assert len(loaded) == 40 and loaded.dim == 8 and loaded.distance == "cosine"
    np.testing.assert_array_equal(loaded.embeddings, data)
    a, b = index.search(data[:5], k=4), loaded.search(data[:5], k=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.paths, b.paths)
    assert b.metadata[0][0] == {"camera": 0, "note": "é"}


def test_empty_index_round_trip_and_errors(tmp_path):
    index = EmbeddingIndex()
    with pytest.raises(ValueError, match="empty"):
        index.search(np.zeros((1, 3)))
    index.save(tmp_path / "e.npz")
    assert len(EmbeddingIndex.load(tmp_path / "e.npz")) == 0
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an EmbeddingIndex"):
        EmbeddingIndex.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        EmbeddingIndex.load(tmp_path / "missing.npz")
    index.add(np.zeros((2, 3)), labels=[1, 2])
    with pytest.raises(ValueError, match="labels"):
        index.add(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="embeddings"):
        index.add(np.zeros((2, 4)), labels=[1, 2])
    with pytest.raises(ValueError, match="embeddings"):
        index.add(np.full((1, 3), np.nan), labels=[1])
    with pytest.raises(ValueError, match="queries"):
        index.search(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="metadata"):
        EmbeddingIndex().add(np.zeros((1, 3)), metadata=[{"x": object()}])
    with pytest.raises(ValueError, match="distance"):
        EmbeddingIndex(distance="l1")
    with pytest.raises(ValueError, match="backend"):
        EmbeddingIndex(backend="annoy")


def test_faiss_backend_error_or_agreement():
    import importlib.util

    rng = np.random.default_rng(2)
    data = rng.standard_normal((50, 4)).astype(np.float32)
    if importlib.util.find_spec("faiss") is None:
        with pytest.raises(ImportError, match=r"pip install embedding-net\[faiss\]"):
            EmbeddingIndex(backend="faiss")
        return
    exact, fast = EmbeddingIndex(), EmbeddingIndex(backend="faiss")
    exact.add(data)
    fast.add(data)
    np.testing.assert_array_equal(
        exact.search(data[:5], 3).indices, fast.search(data[:5], 3).indices
    )


def test_search_result_is_dataclass():
    index = EmbeddingIndex()
    index.add(np.eye(3))
    res = index.search(np.eye(3)[0], k=1)
    assert isinstance(res, SearchResult)
    assert res.labels is None and res.paths is None and res.metadata is None
    with pytest.raises(KeyError):
        res["nope"]


@pytest.mark.parametrize("distance", ["euclidean", "angular", "cosine", "squared-L2", "dot"])
def test_keras_backend_matches_exact(distance, tmp_path):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((500, 12)).astype(np.float32)
    queries = rng.standard_normal((30, 12)).astype(np.float32)
    exact = EmbeddingIndex(distance=distance)
    device = EmbeddingIndex(distance=distance, backend="keras", chunk_size=8)
    exact.add(data)
    device.add(data[:200])
    device.add(data[200:])  # a second add invalidates the device copy
    a, b = exact.search(queries, k=7), device.search(queries, k=7)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.distances, b.distances, atol=1e-4)
    device.save(tmp_path / "k.npz")
    assert EmbeddingIndex.load(tmp_path / "k.npz").backend == "keras"
