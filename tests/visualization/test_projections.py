"""t-SNE backends (openTSNE, scikit-learn), UMAP and the neighbour-preservation score."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from embedding_net.visualization import neighbour_preservation, projections, tsne_embed, umap_embed


def _blobs(num_classes=6, per_class=50, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)) * 4.0
    labels = np.repeat(np.arange(num_classes), per_class)
    return (centres[labels] + rng.normal(size=(labels.size, dim))).astype(np.float32), labels


def _hide_module(monkeypatch, name):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == name else real(n, *a)
    )


def test_neighbour_preservation_reference_values():
    points = np.random.default_rng(0).normal(size=(40, 5))
    assert neighbour_preservation(points, points, k=5) == 1.0
    assert neighbour_preservation(points, points * 3.0 + 1.0, k=5) == 1.0
    shuffled = points[np.random.default_rng(1).permutation(40)]
    assert neighbour_preservation(points, shuffled[:, :2], k=5) < 0.4
    # brute-force reference
    k = 4
    low = points[:, :2]
    d_high = np.linalg.norm(points[:, None] - points[None], axis=-1)
    d_low = np.linalg.norm(low[:, None] - low[None], axis=-1)
    np.fill_diagonal(d_high, np.inf)
    np.fill_diagonal(d_low, np.inf)
    near_high = np.argsort(d_high, axis=1)[:, :k]
    near_low = np.argsort(d_low, axis=1)[:, :k]
    expected = np.mean([len(set(a) & set(b)) / k for a, b in zip(near_high, near_low)])
    assert neighbour_preservation(points, low, k=k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("low", "k", "match"),
    [
        (np.zeros((9, 2)), 3, "rows"),
        (np.zeros((10, 2)), 10, "k must be"),
        (np.zeros((10, 2)), 0, "k must be"),
        (np.full((10, 2), np.nan), 3, "NaN"),
    ],
)
def test_neighbour_preservation_rejects_bad_inputs(low, k, match):
    with pytest.raises(ValueError, match=match):
        neighbour_preservation(np.zeros((10, 4)), low, k=k)


def test_opentsne_is_as_good_as_sklearn_and_seeded():
    pytest.importorskip("openTSNE", reason="openTSNE is optional: pip install embedding-net[tsne]")
    points, _ = _blobs()
    settings = {"perplexity": 20, "seed": 1, "max_iter": 500}
    sk = tsne_embed(points, method="sklearn", **settings)
    first = tsne_embed(points, method="opentsne", **settings)
    second = tsne_embed(points, method="opentsne", **settings)
    assert first.shape == (300, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, sk)  # really another implementation
    quality_sk = neighbour_preservation(points, sk)
    quality_open = neighbour_preservation(points, first)
    assert quality_open > 0.3
    assert abs(quality_open - quality_sk) < 0.1, (quality_open, quality_sk)
    np.testing.assert_array_equal(tsne_embed(points, **settings), first)  # auto = openTSNE


def test_opentsne_small_and_degenerate_inputs():
    pytest.importorskip("openTSNE", reason="openTSNE is optional: pip install embedding-net[tsne]")
    out = tsne_embed(np.random.default_rng(0).normal(size=(5, 3)), max_iter=250, method="opentsne")
    assert out.shape == (5, 2) and np.all(np.isfinite(out))
    one_d = tsne_embed(np.arange(8.0)[:, None], perplexity=2, max_iter=250, method="opentsne")
    assert one_d.shape == (8, 2) and np.all(np.isfinite(one_d))
    np.testing.assert_array_equal(
        tsne_embed(np.full((6, 4), 2.0), method="opentsne"), np.zeros((6, 2))
    )


def test_auto_falls_back_to_sklearn_without_opentsne(monkeypatch):
    _hide_module(monkeypatch, "openTSNE")
    assert projections.resolve_tsne_method("auto") == "sklearn"
    points, _ = _blobs(num_classes=3, per_class=20)
    settings = {"perplexity": 10, "seed": 2, "max_iter": 250}
    np.testing.assert_array_equal(
        tsne_embed(points, **settings), tsne_embed(points, method="sklearn", **settings)
    )
    with pytest.raises(ImportError, match=r"embedding-net\[tsne\]"):
        tsne_embed(points, method="opentsne")


def test_tsne_method_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        tsne_embed(np.ones((4, 2)), method="barnes-hut")


def test_umap_embed_keeps_clusters_and_is_seeded():
    pytest.importorskip("umap", reason="umap-learn is optional: pip install embedding-net[umap]")
    points, labels = _blobs(num_classes=4, per_class=40)
    first = umap_embed(points, seed=0)
    second = umap_embed(points, seed=0)
    assert first.shape == (160, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    nearest = np.argsort(np.linalg.norm(first[:, None] - first[None], axis=-1), axis=1)[:, 1]
    assert np.mean(labels[nearest] == labels) > 0.95


@pytest.mark.parametrize(
    ("embeddings", "kwargs", "match"),
    [
        (np.zeros((2, 4)), {}, "at least 3"),
        (np.full((5, 4), np.nan), {}, "NaN"),
        (np.zeros(4), {}, "2-D"),
        (np.ones((5, 4)), {"n_neighbors": 1}, "n_neighbors"),
        (np.ones((5, 4)), {"min_dist": 2.0}, "min_dist"),
        (np.ones((5, 4)), {"pca_components": 1}, "pca_components"),
    ],
)
def test_umap_embed_rejects_bad_inputs(embeddings, kwargs, match):
    with pytest.raises(ValueError, match=match):
        umap_embed(embeddings, **kwargs)


def test_umap_embed_without_umap_learn(monkeypatch):
    _hide_module(monkeypatch, "umap")
    with pytest.raises(ImportError, match=r"embedding-net\[umap\]"):
        umap_embed(np.random.default_rng(0).normal(size=(10, 4)))
