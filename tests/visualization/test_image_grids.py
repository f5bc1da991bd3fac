"""Retrieval grid and verification pairs: rendered PNGs with green/red frames."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.visualization import plot_pairs, plot_retrieval
from embedding_net.visualization.retrieval import CORRECT_COLOUR, QUERY_COLOUR, WRONG_COLOUR
from tests.visualization.png_checks import count_colour, load_png


def _images(count: int, size: int = 12, seed: int = 0, grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (count, size, size) if grey else (count, size, size, 3)
    # pale pixels only, so frame colours are never produced by the images themselves
    return rng.integers(200, 256, size=shape).astype(np.uint8)


@pytest.mark.parametrize("all_correct", [True, False])
def test_retrieval_frames_follow_correctness(tmp_path, all_correct):
    queries, results = _images(2), _images(6, seed=1).reshape(2, 3, 12, 12, 3)
    correct = np.full((2, 3), all_correct)
    out = tmp_path / "retrieval.png"
    figure = plot_retrieval(
        queries,
        results,
        np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]),
        correct,
        query_labels=["a", "b"],
        result_labels=[["a", "a", "c"], ["b", "d", "b"]],
        path=out,
    )
    assert len(figure.axes) == 2 * 4
    assert figure.axes[1].get_xlabel() == "d=0.100"
    assert figure.axes[0].get_title() == "query: a"
    pixels = load_png(out, min_width=300, min_height=150)
    green, red = count_colour(pixels, CORRECT_COLOUR), count_colour(pixels, WRONG_COLOUR)
    assert count_colour(pixels, QUERY_COLOUR) > 100
    if all_correct:
        assert green > 100 and red == 0
    else:
        assert red > 100 and green == 0


def test_retrieval_accepts_float_and_grey_images(tmp_path):
    queries = _images(1, grey=True).astype(np.float32) / 255.0
    results = _images(2, size=8, grey=True)[None]
    plot_retrieval(queries, results, [[1.0, 2.0]], [[True, False]], path=tmp_path / "r.png")
    pixels = load_png(tmp_path / "r.png", min_width=150, min_height=80)
    assert count_colour(pixels, CORRECT_COLOUR) > 20 and count_colour(pixels, WRONG_COLOUR) > 20


def test_retrieval_errors():
    queries, results = _images(2), _images(6).reshape(2, 3, 12, 12, 3)
    good = {"distances": np.zeros((2, 3)), "correct": np.ones((2, 3), bool)}
    with pytest.raises(ValueError, match="queries has 1 images but results has 2"):
        plot_retrieval(queries[:1], results, **good)
    with pytest.raises(ValueError, match=r"distances must have shape \(2, 3\)"):
        plot_retrieval(queries, results, np.zeros((2, 2)), good["correct"])
    with pytest.raises(ValueError, match=r"correct must have shape \(2, 3\)"):
        plot_retrieval(queries, results, good["distances"], np.ones(6, bool))
    with pytest.raises(ValueError, match="results must have shape"):
        plot_retrieval(queries, _images(6)[..., 0], **good)
    with pytest.raises(ValueError, match="queries is empty"):
        plot_retrieval(
            np.zeros((0, 12, 12, 3), np.uint8), results[:0], np.zeros((0, 3)), np.zeros((0, 3))
        )
    with pytest.raises(ValueError, match="result_labels must have shape"):
        plot_retrieval(queries, results, **good, result_labels=["a", "b"])


def test_pairs_frames_and_titles(tmp_path):
    first, second = _images(3, seed=2), _images(3, seed=3)
    scores = np.array([0.9, 0.2, 0.6])
    is_same = np.array([True, True, False])
    # predicted same: [T, F, T] at threshold 0.5 -> correct, wrong, wrong
    figure = plot_pairs(
        np.stack([first, second], axis=1), scores, 0.5, is_same=is_same, path=tmp_path / "p.png"
    )
    titles = [axes.get_title(loc="left") for axes in figure.axes[::2]]
    assert titles[0].startswith("0.900") and "same (truth: same)" in titles[0]
    assert "different (truth: same)" in titles[1]
    pixels = load_png(tmp_path / "p.png", min_width=300, min_height=80)
    green, red = count_colour(pixels, CORRECT_COLOUR), count_colour(pixels, WRONG_COLOUR)
    assert red > green > 50  # two wrong pairs, one right
    assert "\u2265 0.500" in figure.texts[0].get_text()


def test_pairs_with_distances_and_tuple_input_without_truth(tmp_path):
    first, second = _images(2, grey=True), _images(2, grey=True, seed=5)
    figure = plot_pairs((first, second), [0.3, 1.5], 1.0, higher_is_similar=False, columns=1)
    titles = [axes.get_title(loc="left") for axes in figure.axes[::2]]
    assert titles == ["0.300 \u2192 same", "1.500 \u2192 different"]
    figure.savefig(tmp_path / "p.png")
    load_png(tmp_path / "p.png", min_width=100, min_height=100)


def test_pairs_errors():
    first = _images(2)
    with pytest.raises(ValueError, match="scores has 3 entries but pairs has 2"):
        plot_pairs((first, first), [0.1, 0.2, 0.3], 0.5)
    with pytest.raises(ValueError, match="both sides must hold the same number"):
        plot_pairs((first, first[:1]), [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match=r"pairs must have shape \(P, 2"):
        plot_pairs(first, [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match="is_same must be boolean or 0/1"):
        plot_pairs((first, first), [0.1, 0.2], 0.5, is_same=[2, 0])
    with pytest.raises(ValueError, match="scores holds NaN"):
        plot_pairs((first, first), [0.1, np.nan], 0.5)
