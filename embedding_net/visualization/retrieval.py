"""Image grids: retrieval results (query + top-k) and verification pairs, framed green/red."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.visualization.inputs import (
    check_images,
    check_is_same,
    check_scores,
    check_vector,
    new_figure,
    save_figure,
    to_numpy,
)

CORRECT_COLOUR = "#1a9641"
WRONG_COLOUR = "#d7191c"
QUERY_COLOUR = "#2b5cad"


def _frame(axes, colour: str, width: float = 4.0) -> None:
    """Hide ticks and draw a coloured frame around an image axes."""
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_visible(True)
        spine.set_color(colour)
        spine.set_linewidth(width)


def plot_retrieval(
    queries: Any,
    results: Any,
    distances: Any,
    correct: Any,
    query_labels: Any = None,
    result_labels: Any = None,
    path: str | Path | None = None,
    title: str | None = None,
):
    """Grid of retrieval results: one row per query, its top-k matches framed green (correct) or red.

    Args:
        queries: query images (Q, h, w[, c]), uint8 or float in [0, 1].
        results: retrieved images (Q, k, h2, w2[, c]), nearest first.
        distances: float (Q, k), distance (or score) of each result, written under it.
        correct: bool (Q, k), whether each result matches the query's label.
        query_labels: optional (Q,) labels written above the queries.
        result_labels: optional (Q, k) labels written above the results.
        path: when given, the figure is saved there.
        title: optional figure title.

    Returns:
        matplotlib Figure.

    Raises:
        ValueError: wrong shapes, mismatched Q or k, empty inputs.
    """
    queries = check_images(queries, "queries")
    results = check_images(results, "results", leading_dims=2)
    num_queries, top_k = results.shape[:2]
    if queries.shape[0] != num_queries:
        raise ValueError(
            f"queries has {queries.shape[0]} images but results has {num_queries} rows: must match"
        )
    distances = to_numpy(distances).astype(np.float64)
    if distances.shape != (num_queries, top_k):
        raise ValueError(
            f"distances must have shape ({num_queries}, {top_k}), got {distances.shape}"
        )
    correct = to_numpy(correct)
    if correct.shape != (num_queries, top_k):
        raise ValueError(f"correct must have shape ({num_queries}, {top_k}), got {correct.shape}")
    correct = correct.astype(bool)
    if query_labels is not None:
        query_labels = check_vector(query_labels, "query_labels", num_queries, "queries")
    if result_labels is not None:
        result_labels = to_numpy(result_labels)
        if result_labels.shape != (num_queries, top_k):
            raise ValueError(
                f"result_labels must have shape ({num_queries}, {top_k}), got {result_labels.shape}"
            )

    aspect = results.shape[2] / results.shape[3]
    cell_w = 1.45
    cell_h = cell_w * aspect + 0.45
    figure = new_figure(cell_w * (top_k + 1) + 0.2, cell_h * num_queries + (0.4 if title else 0.1))
    grid = figure.add_gridspec(num_queries, top_k + 1, wspace=0.08, hspace=0.35)
    for row in range(num_queries):
        axes = figure.add_subplot(grid[row, 0])
        axes.imshow(queries[row], interpolation="nearest")
        _frame(axes, QUERY_COLOUR)
        label = "query" if query_labels is None else f"query: {query_labels[row]}"
        axes.set_title(label, fontsize=8, color=QUERY_COLOUR)
        for col in range(top_k):
            axes = figure.add_subplot(grid[row, col + 1])
            axes.imshow(results[row, col], interpolation="nearest")
            ok = bool(correct[row, col])
            _frame(axes, CORRECT_COLOUR if ok else WRONG_COLOUR)
            head = f"#{col + 1}"
            if result_labels is not None:
                head += f" {result_labels[row, col]}"
            axes.set_title(head, fontsize=8)
            axes.set_xlabel(f"d={distances[row, col]:.3f}", fontsize=8, labelpad=2)
    if title:
        figure.suptitle(title)
    save_figure(figure, path)
    return figure


def _split_pairs(pairs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Accept (P, 2, h, w[, c]) or a 2-tuple of (P, h, w[, c]) arrays."""
    if isinstance(pairs, (tuple, list)) and len(pairs) == 2:
        first = check_images(pairs[0], "pairs[0]")
        second = check_images(pairs[1], "pairs[1]")
    else:
        array = to_numpy(pairs)
        if array.ndim < 4 or array.shape[1] != 2:
            raise ValueError(
                "pairs must have shape (P, 2, h, w[, c]) or be a tuple (images_a, images_b), "
                f"got shape {array.shape}"
            )
        first = check_images(array[:, 0], "pairs[:, 0]")
        second = check_images(array[:, 1], "pairs[:, 1]")
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"pairs: both sides must hold the same number of images, got {first.shape[0]} "
            f"and {second.shape[0]}"
        )
    return first, second


def plot_pairs(
    pairs: Any,
    scores: Any,
    threshold: float,
    is_same: Any = None,
    path: str | Path | None = None,
    higher_is_similar: bool = True,
    columns: int = 4,
    title: str | None = None,
):
    """Face-verification pairs side by side with their score and the decision at ``threshold``.

    A pair is predicted "same" when ``score >= threshold`` (``higher_is_similar=True``, for
    similarities) or ``score <= threshold`` (False, for distances). With ``is_same`` the frame is
    green for a correct decision and red for a wrong one; without it, green means "predicted same".

    Args:
        pairs: (P, 2, h, w[, c]) images or a tuple (images_a, images_b) of (P, h, w[, c]).
        scores: float (P,), similarity or distance of each pair.
        threshold: decision threshold on ``scores``.
        is_same: optional bool (P,) ground truth.
        path: when given, the figure is saved there.
        higher_is_similar: whether larger scores mean "same person".
        columns: pairs per row.
        title: optional figure title.

    Returns:
        matplotlib Figure.
    """
    first, second = _split_pairs(pairs)
    num_pairs = first.shape[0]
    scores = check_scores(scores, "scores", num_pairs, "pairs")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if is_same is not None:
        is_same = check_is_same(is_same, "is_same", num_pairs, "pairs")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    predicted = scores >= threshold if higher_is_similar else scores <= threshold
    columns = min(columns, num_pairs)
    rows = int(np.ceil(num_pairs / columns))
    aspect = first.shape[1] / first.shape[2]
    cell = 1.3
    figure = new_figure(columns * 2 * cell + 0.3 * columns, rows * (cell * aspect + 0.3) + 0.4)
    outer = figure.add_gridspec(rows, columns, wspace=0.12, hspace=0.3)
    for index in range(num_pairs):
        inner = outer[index // columns, index % columns].subgridspec(1, 2, wspace=0.04)
        good = bool(predicted[index]) if is_same is None else predicted[index] == is_same[index]
        colour = CORRECT_COLOUR if good else WRONG_COLOUR
        for side, images in enumerate((first, second)):
            axes = figure.add_subplot(inner[0, side])
            axes.imshow(images[index], interpolation="nearest")
            _frame(axes, colour, 3.0)
            if side == 0:
                decision = "same" if predicted[index] else "different"
                truth = (
                    ""
                    if is_same is None
                    else (" (truth: same)" if is_same[index] else " (truth: diff)")
                )
                axes.set_title(
                    f"{scores[index]:.3f} \u2192 {decision}{truth}",
                    fontsize=7,
                    color=colour,
                    loc="left",
                )
    if title is None:
        relation = "\u2265" if higher_is_similar else "\u2264"
        title = f"same if score {relation} {threshold:.3f}"
    figure.suptitle(title, fontsize=10)
    save_figure(figure, path)
    return figure
