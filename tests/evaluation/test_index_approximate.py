"""EmbeddingIndex with an approximate faiss index (index_factory), and the tiled exact search."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from embedding_net.evaluation import EmbeddingIndex, _search


def _clustered(n_items=4000, n_queries=200, dim=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32) * 3.0
    items = centres[rng.integers(0, 40, n_items)] + rng.standard_normal((n_items, dim)).astype(
        np.float32
    )
    queries = centres[rng.integers(0, 40, n_queries)] + rng.standard_normal(
        (n_queries, dim)
    ).astype(np.float32)
    return queries, items


def _recall(found, exact):
    return np.mean([len(set(a) & set(b)) / exact.shape[1] for a, b in zip(found, exact)])


def test_tiled_exact_search_equals_one_block(monkeypatch):
    rng = np.random.default_rng(3)
    items = np.round(rng.standard_normal((5000, 8)) * 2).astype(np.float32) / 2  # many ties
    queries = np.round(rng.standard_normal((70, 8)) * 2).astype(np.float32) / 2
    for distance in ("L2", "squared-L2", "angular", "cosine", "dot"):
        for k in (1, 10, 1500):
            whole = _search.search_exact(queries, items, k, distance, 32)
            monkeypatch.setattr(_search, "TILE_ELEMENTS", 1 << 10)  # 1024-item tiles
            tiled = _search.search_exact(queries, items, k, distance, 32)
            monkeypatch.undo()
            np.testing.assert_array_equal(tiled[0], whole[0])
            np.testing.assert_array_equal(tiled[1], whole[1])


needs_faiss = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None,
    reason="faiss is optional: pip install embedding-net[faiss]",
)


@needs_faiss
@pytest.mark.parametrize(
    ("factory", "parameters", "distance"),
    [
        ("IVF32,Flat", {"nprobe": 8}, "euclidean"),
        ("HNSW16", {"efSearch": 64}, "euclidean"),
        ("IVF32,Flat", {"nprobe": 8}, "cosine"),
        ("HNSW16", {"efSearch": 64}, "angular"),
    ],
)
def test_approximate_recall_and_save_load_round_trip(tmp_path, factory, parameters, distance):
    queries, items = _clustered()
    exact = EmbeddingIndex(distance=distance)
    exact.add(items, labels=np.arange(len(items)) % 9, paths=[f"{i}.jpg" for i in range(4000)])
    approximate = EmbeddingIndex(
        distance=distance, backend="faiss", index_factory=factory, search_parameters=parameters
    )
    approximate.add(
        items, labels=np.arange(len(items)) % 9, paths=[f"{i}.jpg" for i in range(4000)]
    )
    reference = exact.search(queries, k=10)
    found = approximate.search(queries, k=10)
    assert _recall(found.indices, reference.indices) >= 0.95
    # scores are those of the exact distance for the neighbours found
    same = found.indices[:, 0] == reference.indices[:, 0]
    np.testing.assert_allclose(found.scores[same, 0], reference.scores[same, 0], atol=1e-4)
    np.testing.assert_array_equal(found.labels, found.indices % 9)
    path = tmp_path / "approximate.npz"
    approximate.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert data["faiss_index"].dtype == np.uint8
        header = json.loads(str(data["header"]))
    assert header["index_factory"] == factory and header["search_parameters"] == parameters
    loaded = EmbeddingIndex.load(path)
    assert loaded.index_factory == factory and loaded.search_parameters == parameters
    again = loaded.search(queries, k=10)
    np.testing.assert_array_equal(again.indices, found.indices)
    np.testing.assert_array_equal(again.scores, found.scores)
    np.testing.assert_array_equal(again.paths, found.paths)
    # the saved file also loads as an exact index
    exact_again = EmbeddingIndex.load(path, backend="exact")
    assert exact_again.index_factory is None
    np.testing.assert_array_equal(exact_again.search(queries, 10).indices, reference.indices)


@needs_faiss
def test_saving_before_any_search_builds_the_index(tmp_path):
    queries, items = _clustered(n_items=1000)
    index = EmbeddingIndex(backend="faiss", index_factory="HNSW8")
    index.add(items)
    index.save(tmp_path / "i.npz")
    loaded = EmbeddingIndex.load(tmp_path / "i.npz")
    np.testing.assert_array_equal(
        loaded.search(queries, 5).indices, index.search(queries, 5).indices
    )
    empty = EmbeddingIndex(backend="faiss", index_factory="HNSW8")
    empty.save(tmp_path / "empty.npz")
    assert len(EmbeddingIndex.load(tmp_path / "empty.npz")) == 0


@needs_faiss
def test_adding_after_a_search_rebuilds_the_index():
    queries, items = _clustered(n_items=2000)
    index = EmbeddingIndex(
        backend="faiss", index_factory="IVF16,Flat", search_parameters={"nprobe": 16}
    )
    index.add(items[:1000])
    index.search(queries, 5)
    index.add(items[1000:])
    exact = EmbeddingIndex()
    exact.add(items)
    np.testing.assert_array_equal(
        index.search(queries, 5).indices, exact.search(queries, 5).indices
    )


@needs_faiss
def test_missing_neighbours_are_marked():
    queries, items = _clustered(n_items=1000)
    index = EmbeddingIndex(
        backend="faiss", index_factory="IVF16,Flat", search_parameters={"nprobe": 1}
    )
    index.add(
        items, labels=np.arange(1000), paths=[f"{i}" for i in range(1000)], metadata=[{}] * 1000
    )
    result = index.search(queries, k=200)  # one list of ~60 items cannot give 200
    missing = result.indices < 0
    assert missing.any()
    assert np.isnan(result.scores[missing]).all()
    assert (result.labels[missing] == -1).all() and (result.paths[missing] == "").all()
    assert all(result.metadata[i][j] is None for i, j in zip(*np.nonzero(missing)))


@needs_faiss
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"index_factory": "HNSW32"}, "needs backend='faiss'"),
        ({"backend": "faiss", "index_factory": ""}, "index_factory string"),
        ({"backend": "faiss", "index_factory": 32}, "index_factory string"),
        ({"backend": "faiss", "search_parameters": {"nprobe": 4}}, "needs an `index_factory`"),
        (
            {"backend": "faiss", "index_factory": "HNSW8", "search_parameters": {"nprobe": "4"}},
            "number",
        ),
        (
            {"backend": "faiss", "index_factory": "HNSW8", "search_parameters": {"nprobe": True}},
            "numbers",
        ),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmbeddingIndex(**kwargs)


@needs_faiss
def test_build_errors():
    queries, items = _clustered(n_items=500)
    for factory, parameters, match in (
        ("NotAnIndex", {}, "could not build"),
        ("HNSW8", {"nprobe": 4}, "has no parameter 'nprobe'"),
    ):
        index = EmbeddingIndex(backend="faiss", index_factory=factory, search_parameters=parameters)
        index.add(items)
        with pytest.raises(ValueError, match=match):
            index.search(queries, 3)


@needs_faiss
def test_load_without_faiss_is_refused_clearly(tmp_path, monkeypatch):
    queries, items = _clustered(n_items=500)
    index = EmbeddingIndex(backend="faiss", index_factory="HNSW8")
    index.add(items)
    index.save(tmp_path / "i.npz")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "faiss" else real(n, *a)
    )
    with pytest.raises(ImportError, match=r"pip install embedding-net\[faiss\]"):
        EmbeddingIndex.load(tmp_path / "i.npz")
    assert len(EmbeddingIndex.load(tmp_path / "i.npz", backend="exact")) == 500
