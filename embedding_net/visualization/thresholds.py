"""Threshold sweep of verification scores: accuracy and F1 of "same if score >= t" for each t."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.visualization.inputs import (
    check_pairs,
    check_scores,
    new_figure,
    save_figure,
)


def threshold_sweep(
    scores: Any, is_same: Any, thresholds: Any = None, higher_is_similar: bool = True
) -> dict[str, np.ndarray]:
    """Accuracy and F1 of the rule "same if score >= t" (or <= t for distances) for each t.

    Counts come from one sort and binary searches: O((N + T) log N) for N pairs and T thresholds.

    Args:
        scores: float (N,), similarity or distance of each pair.
        is_same: bool (N,), ground truth; must hold both classes.
        thresholds: float (T,) thresholds; default every distinct score (or 1,000 quantiles when
            there are more).
        higher_is_similar: True for similarities, False for distances.

    Returns:
        dict with ``thresholds``, ``accuracy`` and ``f1`` (each (T,)).
    """
    scores, is_same = check_pairs(scores, is_same)
    if thresholds is None:
        thresholds = np.unique(scores)
        if thresholds.size > 1000:
            thresholds = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, 1000)))
    else:
        thresholds = check_scores(thresholds, "thresholds")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    cumulative = np.concatenate([[0], np.cumsum(is_same[order])])
    total, positives = scores.size, int(is_same.sum())
    if higher_is_similar:
        below = np.searchsorted(sorted_scores, thresholds, side="left")
        predicted = total - below
        true_pos = positives - cumulative[below]
    else:
        upto = np.searchsorted(sorted_scores, thresholds, side="right")
        predicted = upto
        true_pos = cumulative[upto]
    false_pos = predicted - true_pos
    false_neg = positives - true_pos
    true_neg = total - positives - false_pos
    accuracy = (true_pos + true_neg) / total
    denominator = 2 * true_pos + false_pos + false_neg
    f1 = np.where(denominator > 0, 2 * true_pos / np.maximum(denominator, 1), 0.0)
    return {"thresholds": thresholds, "accuracy": accuracy.astype(np.float64), "f1": f1}


def plot_threshold_sweep(
    scores: Any,
    is_same: Any,
    thresholds: Any = None,
    path: str | Path | None = None,
    higher_is_similar: bool = True,
    title: str | None = None,
):
    """Accuracy and F1 versus decision threshold, with the best threshold of each marked.

    Args:
        scores: float (N,), similarity or distance of each pair.
        is_same: bool (N,), ground truth; must hold both classes.
        thresholds: optional float (T,) thresholds (see :func:`threshold_sweep`).
        path: when given, the figure is saved there.
        higher_is_similar: True for similarities, False for distances.
        title: axes title.

    Returns:
        matplotlib Figure.
    """
    sweep = threshold_sweep(scores, is_same, thresholds, higher_is_similar)
    figure = new_figure(6.5, 4.2)
    axes = figure.add_subplot(1, 1, 1)
    for key, colour in (("accuracy", "#2b5cad"), ("f1", "#e66101")):
        values = sweep[key]
        best = int(np.argmax(values))
        axes.plot(sweep["thresholds"], values, color=colour, lw=1.8, label=key)
        axes.scatter(
            [sweep["thresholds"][best]],
            [values[best]],
            color=colour,
            edgecolors="black",
            zorder=5,
            s=45,
            label=f"best {key} {values[best]:.4f} at {sweep['thresholds'][best]:.4g}",
        )
        axes.axvline(sweep["thresholds"][best], color=colour, ls=":", lw=1)
    axes.set_xlabel("threshold (" + ("similarity" if higher_is_similar else "distance") + ")")
    axes.set_ylabel("score")
    axes.set_ylim(0, 1.02)
    axes.set_title(title or "accuracy and F1 vs threshold")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower center")
    save_figure(figure, path)
    return figure


__all__ = ["plot_threshold_sweep", "threshold_sweep"]
