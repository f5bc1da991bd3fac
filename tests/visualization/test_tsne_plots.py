"""t-SNE projection and the static t-SNE plot."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.visualization import class_styles, plot_tsne, tsne_embed
from tests.visualization.png_checks import load_png


def _blobs(num_classes: int, per_class: int, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)) * 6.0
    labels = np.repeat(np.arange(num_classes), per_class)
    return centres[labels] + rng.normal(size=(labels.size, dim)), labels


def _nearest_neighbour_agreement(points: np.ndarray, labels: np.ndarray) -> float:
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return float(np.mean(labels[np.argmin(distances, axis=1)] == labels))


def test_tsne_embed_keeps_separated_clusters_apart_and_is_seeded():
    embeddings, labels = _blobs(4, 15, dim=60)
    first = tsne_embed(embeddings, perplexity=10, seed=3, pca_components=20, max_iter=250)
    second = tsne_embed(embeddings, perplexity=10, seed=3, pca_components=20, max_iter=250)
    assert first.shape == (60, 2) and first.dtype == np.float32
    np.testing.assert_allclose(first, second)
    assert _nearest_neighbour_agreement(first, labels) > 0.95


def test_tsne_embed_small_inputs():
    assert tsne_embed(np.ones((1, 8))).tolist() == [[0.0, 0.0]]
    # identical embeddings (a collapsed network) map to one spot instead of crashing sklearn
    np.testing.assert_array_equal(tsne_embed(np.full((10, 4), 0.3)), np.zeros((10, 2)))
    # perplexity 30 is lowered for 5 points instead of failing inside scikit-learn
    out = tsne_embed(np.random.default_rng(0).normal(size=(5, 3)), max_iter=250)
    assert out.shape == (5, 2) and np.all(np.isfinite(out))
    # one-dimensional embeddings work too
    assert tsne_embed(np.arange(6.0)[:, None], perplexity=2, max_iter=250).shape == (6, 2)


@pytest.mark.parametrize(
    ("embeddings", "match"),
    [
        (np.zeros((0, 4)), "embeddings is empty"),
        (np.zeros(4), "embeddings must be 2-D"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
    ],
)
def test_tsne_embed_rejects_bad_embeddings(embeddings, match):
    with pytest.raises(ValueError, match=match):
        tsne_embed(embeddings)


def test_tsne_embed_rejects_bad_settings():
    with pytest.raises(ValueError, match="perplexity"):
        tsne_embed(np.ones((4, 2)), perplexity=0)
    with pytest.raises(ValueError, match="pca_components"):
        tsne_embed(np.ones((4, 2)), pca_components=1)
    with pytest.raises(ValueError, match="num_threads"):
        tsne_embed(np.ones((4, 2)), num_threads=0)


def test_class_styles_are_unique_for_many_classes():
    for count in (3, 43, 60, 120):
        styles = class_styles(count)
        keys = {(tuple(np.round(colour, 4)), marker) for colour, marker in styles}
        assert len(keys) == count
    # 43 classes: at least 40 different colours, so markers are not doing all the work
    assert len({tuple(np.round(c, 4)) for c, _ in class_styles(43)}) == 43


def test_plot_tsne_43_classes_renders_png_with_legend(tmp_path):
    embeddings, labels = _blobs(43, 3, dim=8)
    names = [f"sign {i}" for i in range(43)]
    rng = np.random.default_rng(1)
    figure = plot_tsne(
        embeddings,
        labels,
        class_names=names,
        points_2d=rng.normal(size=(labels.size, 2)),
        path=tmp_path / "tsne.png",
        title="forty-three",
        centroid_labels=True,
    )
    axes = figure.axes[0]
    legend_texts = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend_texts == names
    assert axes.get_legend()._ncols >= 2
    assert axes.get_title() == "forty-three"
    pixels = load_png(tmp_path / "tsne.png", min_width=850, min_height=600)
    # many distinct colours were drawn (43 classes -> far more than a handful of hues)
    colours = np.unique(pixels.reshape(-1, 3) // 16, axis=0)
    assert len(colours) > 60


def test_plot_tsne_runs_tsne_and_accepts_string_labels_and_svg(tmp_path):
    embeddings, labels = _blobs(3, 8)
    names = np.array(["cat", "dog", "owl"])[labels]
    figure = plot_tsne(embeddings, names, perplexity=5, max_iter=250, path=tmp_path / "t.svg")
    text = (tmp_path / "t.svg").read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["cat", "dog", "owl"]


def test_plot_tsne_accepts_tensors(tmp_path):
    import keras

    embeddings, labels = _blobs(2, 5, dim=4)
    plot_tsne(
        keras.ops.convert_to_tensor(embeddings.astype("float32")),
        keras.ops.convert_to_tensor(labels),
        points_2d=embeddings[:, :2],
        path=tmp_path / "t.png",
    )
    load_png(tmp_path / "t.png")


def test_plot_tsne_input_errors():
    embeddings, labels = _blobs(2, 4)
    with pytest.raises(ValueError, match="labels has 7 entries but embeddings has 8"):
        plot_tsne(embeddings, labels[:7])
    with pytest.raises(ValueError, match="points_2d must have shape"):
        plot_tsne(embeddings, labels, points_2d=np.zeros((8, 3)))
    with pytest.raises(ValueError, match="class_names has no entry for label 1"):
        plot_tsne(embeddings, labels, class_names=["only zero"], points_2d=embeddings[:, :2])
    with pytest.raises(ValueError, match="path must end in"):
        plot_tsne(embeddings, labels, points_2d=embeddings[:, :2], path="out.txt")
    with pytest.raises(ValueError, match="num_threads"):
        plot_tsne(embeddings, labels, num_threads=0)
