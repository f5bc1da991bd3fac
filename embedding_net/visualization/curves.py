"""Metric charts: ROC with EER, pair-distance histograms, CMC, training history.

The threshold sweep (:func:`threshold_sweep`, :func:`plot_threshold_sweep`) is in
:mod:`embedding_net.visualization.thresholds` and re-exported from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.visualization.inputs import (
    check_pairs,
    check_scores,
    new_figure,
    save_figure,
)

# The threshold sweep lives in its own module; re-exported here so older imports keep working.
from embedding_net.visualization.thresholds import plot_threshold_sweep, threshold_sweep


def roc_points(scores: Any, is_same: Any, higher_is_similar: bool = True) -> dict[str, Any]:
    """ROC curve, AUC and equal error rate of verification scores.

    Args:
        scores: float (N,), similarity (``higher_is_similar=True``) or distance of each pair.
        is_same: bool (N,), ground truth; must hold both classes.
        higher_is_similar: whether larger scores mean "same".

    Returns:
        dict with ``fpr``, ``tpr`` (arrays, from (0, 0) to (1, 1)), ``thresholds`` (score value of
        each point), ``auc``, ``eer`` (where false-positive rate = false-negative rate, linearly
        interpolated) and ``eer_threshold``.
    """
    from sklearn.metrics import auc, roc_curve

    scores, is_same = check_pairs(scores, is_same)
    signed = scores if higher_is_similar else -scores
    fpr, tpr, thresholds = roc_curve(is_same, signed, drop_intermediate=False)
    thresholds = thresholds if higher_is_similar else -thresholds
    fnr = 1.0 - tpr
    diff = fpr - fnr  # increases from -1 to 1 along the curve
    after = int(np.argmax(diff >= 0))
    if after == 0 or diff[after] == 0:
        eer = float(fpr[after])
        eer_threshold = float(thresholds[after])
    else:
        before = after - 1
        weight = -diff[before] / (diff[after] - diff[before])
        eer = float(fpr[before] + weight * (fpr[after] - fpr[before]))
        finite = np.isfinite(thresholds[[before, after]]).all()
        eer_threshold = float(
            thresholds[before] + weight * (thresholds[after] - thresholds[before])
            if finite
            else thresholds[after]
        )
    return {
        "fpr": fpr,
        "tpr": tpr,
        "thresholds": thresholds,
        "auc": float(auc(fpr, tpr)),
        "eer": eer,
        "eer_threshold": eer_threshold,
    }


def plot_roc(
    scores: Any,
    is_same: Any,
    path: str | Path | None = None,
    higher_is_similar: bool = True,
    title: str | None = None,
    log_fpr: bool = False,
):
    """ROC curve (true-positive vs false-positive rate) with the AUC and the EER point marked.

    Args:
        scores: float (N,), similarity or distance of each pair.
        is_same: bool (N,), ground truth; must hold both classes.
        path: when given, the figure is saved there.
        higher_is_similar: True for similarities, False for distances.
        title: axes title.
        log_fpr: logarithmic false-positive axis (to read TAR at low FAR).

    Returns:
        matplotlib Figure.
    """
    roc = roc_points(scores, is_same, higher_is_similar)
    figure = new_figure(5.5, 5.0)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(roc["fpr"], roc["tpr"], color="#2b5cad", lw=2, label=f"ROC (AUC = {roc['auc']:.4f})")
    if not log_fpr:
        axes.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="chance")
    axes.plot([0, 1], [1, 0], color="0.8", ls=":", lw=1)
    axes.scatter(
        [roc["eer"]],
        [1 - roc["eer"]],
        color="#d7191c",
        zorder=5,
        s=40,
        label=f"EER = {roc['eer']:.4f} (threshold {roc['eer_threshold']:.3g})",
    )
    if log_fpr:
        positive = roc["fpr"][roc["fpr"] > 0]
        axes.set_xscale("log")
        axes.set_xlim(max(positive.min() if positive.size else 1e-4, 1e-6), 1)
    else:
        axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false positive rate (FAR)")
    axes.set_ylabel("true positive rate (TAR)")
    axes.set_title(title or "ROC")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    save_figure(figure, path)
    return figure


def plot_distance_histograms(
    positive_distances: Any,
    negative_distances: Any,
    threshold: float | None = None,
    path: str | Path | None = None,
    bins: int = 50,
    title: str | None = None,
):
    """Overlaid histograms of positive-pair and negative-pair distances, with the threshold.

    Args:
        positive_distances: float (P,), distances of same-class pairs.
        negative_distances: float (M,), distances of different-class pairs.
        threshold: optional decision threshold drawn as a vertical line.
        path: when given, the figure is saved there.
        bins: number of shared histogram bins.
        title: axes title.

    Returns:
        matplotlib Figure.
    """
    positive = check_scores(positive_distances, "positive_distances")
    negative = check_scores(negative_distances, "negative_distances")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite or None, got {threshold}")
    low = min(positive.min(), negative.min())
    high = max(positive.max(), negative.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    figure = new_figure(6.5, 4.2)
    axes = figure.add_subplot(1, 1, 1)
    for values, colour, label in (
        (positive, "#1a9641", "positive pairs"),
        (negative, "#d7191c", "negative pairs"),
    ):
        axes.hist(values, bins=edges, density=True, histtype="stepfilled", alpha=0.3, color=colour)
        axes.hist(
            values,
            bins=edges,
            density=True,
            histtype="step",
            lw=1.5,
            color=colour,
            label=f"{label} (n={values.size})",
        )
    if threshold is not None:
        axes.axvline(
            threshold, color="black", ls="--", lw=1.5, label=f"threshold = {threshold:.3g}"
        )
    axes.set_xlabel("distance")
    axes.set_ylabel("density")
    axes.set_title(title or "pair distances")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    save_figure(figure, path)
    return figure


def plot_cmc(
    cmc: Any,
    path: str | Path | None = None,
    max_rank: int | None = None,
    title: str | None = None,
):
    """Cumulative matching characteristic: matching rate at rank 1..R, one curve per method.

    Args:
        cmc: float (R,) matching rates in [0, 1] (``cmc[0]`` is rank-1), or a dict name -> (R,).
        path: when given, the figure is saved there.
        max_rank: show ranks 1..max_rank only.
        title: axes title.

    Returns:
        matplotlib Figure.
    """
    curves = dict(cmc) if isinstance(cmc, Mapping) else {"CMC": cmc}
    if not curves:
        raise ValueError("cmc is an empty dict: give at least one name -> curve")
    checked = {}
    for name, curve in curves.items():
        values = check_scores(
            curve, f"cmc[{name!r}]" if len(curves) > 1 or name != "CMC" else "cmc"
        )
        if values.min() < 0 or values.max() > 1 + 1e-9:
            raise ValueError(
                f"cmc[{name!r}] must hold rates in [0, 1], got range [{values.min():.3g}, "
                f"{values.max():.3g}] (divide percentages by 100)"
            )
        checked[str(name)] = values[:max_rank] if max_rank else values
    if max_rank is not None and max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    figure = new_figure(6.0, 4.2)
    axes = figure.add_subplot(1, 1, 1)
    for name, values in checked.items():
        ranks = np.arange(1, values.size + 1)
        axes.plot(
            ranks,
            values,
            marker="o" if values.size <= 30 else None,
            ms=3,
            lw=1.6,
            label=f"{name} (rank-1 {values[0]:.3f})",
        )
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    longest = max(v.size for v in checked.values())
    axes.set_xlim(1, max(longest, 2))
    axes.set_ylim(min(0.0, min(v.min() for v in checked.values())), 1.01)
    axes.set_xlabel("rank")
    axes.set_ylabel("matching rate")
    axes.set_title(title or "CMC")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    save_figure(figure, path)
    return figure


def plot_history(history_or_dict: Any, path: str | Path | None = None, title: str | None = None):
    """Training curves: one panel per metric, training and ``val_`` values together.

    Args:
        history_or_dict: a keras ``History`` (from ``fit``) or a dict metric -> list of per-epoch
            values (e.g. ``history.history``).
        path: when given, the figure is saved there.
        title: figure title.

    Returns:
        matplotlib Figure.
    """
    logs = getattr(history_or_dict, "history", history_or_dict)
    if not isinstance(logs, Mapping):
        raise ValueError(
            f"history_or_dict must be a keras History or a dict, got {type(history_or_dict).__name__}"
        )
    logs = {str(k): check_scores(v, f"history[{k!r}]") if len(v) else None for k, v in logs.items()}
    logs = {k: v for k, v in logs.items() if v is not None}
    if not logs:
        raise ValueError("history_or_dict holds no metric values (train for at least one epoch)")
    base = []
    for key in logs:
        name = key[4:] if key.startswith("val_") else key
        if name not in base:
            base.append(name)
    from matplotlib.ticker import MaxNLocator

    columns = min(3, len(base))
    rows = int(np.ceil(len(base) / columns))
    figure = new_figure(4.2 * columns, 3.2 * rows + (0.3 if title else 0))
    for index, name in enumerate(base):
        axes = figure.add_subplot(rows, columns, index + 1)
        for key, style, label in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
            if key in logs:
                values = logs[key]
                epochs = np.arange(1, values.size + 1)
                axes.plot(
                    epochs,
                    values,
                    style,
                    marker="o" if values.size <= 30 else None,
                    ms=3,
                    label=label,
                )
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


__all__ = [
    "plot_cmc",
    "plot_distance_histograms",
    "plot_history",
    "plot_roc",
    "plot_threshold_sweep",
    "roc_points",
    "threshold_sweep",
]
