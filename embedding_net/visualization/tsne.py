"""t-SNE projection of embeddings and a static scatter plot readable for many classes."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.visualization.inputs import (
    check_embeddings,
    check_vector,
    new_figure,
    save_figure,
)
from embedding_net.visualization.projections import opentsne_2d, resolve_tsne_method

logger = logging.getLogger(__name__)

# Marker shapes cycled together with the colours, so classes that share a hue still differ.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def tsne_embed(
    embeddings: Any,
    perplexity: float = 30,
    seed: int = 0,
    pca_components: int | None = 50,
    max_iter: int = 1000,
    n_jobs: int | None = None,
    num_threads: int | None = 1,
    method: str = "auto",
) -> np.ndarray:
    """Project embeddings to 2-D with t-SNE (openTSNE or scikit-learn) after a PCA reduction.

    ``method="auto"`` uses openTSNE (``pip install embedding-net[tsne]``: FFT-accelerated
    gradients from 10,000 points on, 2-3x faster there than scikit-learn at the same
    neighbour preservation; ``max_iter=500`` mapped 10,000 points in 11 s on 2 cores, see
    ``docs/visualization.md``) when it is installed and scikit-learn's Barnes-Hut t-SNE
    otherwise; ``"sklearn"`` / ``"opentsne"`` pick one. The two give different (equally good)
    maps for the same seed. The PCA step (to ``pca_components`` dimensions, skipped when the
    embeddings are already that small) removes noise dimensions and makes the neighbour search
    of t-SNE cheaper. Both steps are seeded, so the same inputs and ``seed`` give the same
    projection.

    Args:
        embeddings: float array or tensor (N, D), finite.
        perplexity: t-SNE perplexity; lowered to ``(N - 1) / 3`` (at least 1) for small N.
        seed: random seed of PCA and t-SNE.
        pca_components: dimensions kept by the PCA pre-reduction, or None to skip it.
        max_iter: t-SNE optimisation iterations (scikit-learn's default is 1000).
        n_jobs: threads for the neighbour search (None: scikit-learn's default); for openTSNE
            its thread count (None: ``num_threads``, or all cores when that is None too).
        num_threads: OpenMP/BLAS threads for PCA and the t-SNE optimisation, or None for the
            libraries' default (all cores). The default 1 is robust on shared machines: on a
            2-core machine with other jobs running, two OpenMP threads made a 360-point t-SNE
            15-25x slower than one (they wait on each other at every iteration); on an idle
            machine more threads help large N, see ``benchmarks/visualization.py``.
        method: "auto", "sklearn" or "opentsne" (see above).

    Returns:
        float32 array (N, 2). A single point, or a set of identical points, maps to the origin.

    Raises:
        ValueError: empty, non-2-D or non-finite ``embeddings``; non-positive ``perplexity`` or
            ``pca_components``; an unknown ``method``.
        ImportError: ``method="opentsne"`` without openTSNE installed.
    """
    points = check_embeddings(embeddings)
    method = resolve_tsne_method(method)
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    if perplexity <= 0:
        raise ValueError(f"perplexity must be > 0, got {perplexity}")
    if pca_components is not None and pca_components < 2:
        raise ValueError(f"pca_components must be >= 2 or None, got {pca_components}")
    num_points = points.shape[0]
    spread = float(np.ptp(points, axis=0).max())
    if num_points == 1 or spread <= 1e-12 * (1.0 + float(np.abs(points).max())):
        # one point, or all points identical: nothing to lay out (scikit-learn's PCA
        # initialisation divides by a zero spread and its Barnes-Hut code then crashes)
        return np.zeros((num_points, 2), dtype=np.float32)
    from threadpoolctl import threadpool_limits

    if method == "opentsne" and n_jobs is None:
        n_jobs = num_threads if num_threads is not None else -1
    with threadpool_limits(limits=num_threads):
        return _tsne(points, perplexity, seed, pca_components, max_iter, n_jobs, method)


def _tsne(points, perplexity, seed, pca_components, max_iter, n_jobs, method) -> np.ndarray:
    num_points = points.shape[0]
    if pca_components is not None and points.shape[1] > pca_components < num_points:
        from sklearn.decomposition import PCA

        points = PCA(n_components=pca_components, random_state=seed).fit_transform(points)
    effective = min(float(perplexity), max(1.0, (num_points - 1) / 3.0))
    if effective < perplexity:
        logger.info(
            "t-SNE perplexity lowered from %s to %.2f for %d points",
            perplexity,
            effective,
            num_points,
        )
    if points.shape[1] == 1:
        points = np.concatenate([points, np.zeros_like(points)], axis=1)
    if method == "opentsne":
        return opentsne_2d(points, effective, seed, max_iter, n_jobs)
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=effective,
        init="pca" if num_points > 2 else "random",
        learning_rate="auto",
        max_iter=max_iter,
        random_state=seed,
        n_jobs=n_jobs,
    )
    return tsne.fit_transform(points).astype(np.float32)


def class_styles(num_classes: int) -> list[tuple[tuple[float, float, float, float], str]]:
    """Return ``num_classes`` (colour, marker) pairs that stay distinguishable for 60+ classes.

    Colours come from the 60 entries of matplotlib's tab20, tab20b and tab20c, reordered so that
    consecutive classes get far-apart hues; markers cycle with a period that does not divide the palette
    size (10 markers, changing every 10 classes), so no two of the first 300 classes share both
    colour and marker.
    """
    from matplotlib import colormaps

    if num_classes <= 10:
        palette = [colormaps["tab10"](i) for i in range(10)]
    else:
        # dark shades of tab20 first, then tab20b/tab20c darkest, then the lighter shades
        tab20 = [colormaps["tab20"](i) for i in range(20)]
        tab20b = [colormaps["tab20b"](i) for i in range(20)]
        tab20c = [colormaps["tab20c"](i) for i in range(20)]
        palette = tab20[0::2] + tab20b[0::4] + tab20c[0::4] + tab20[1::2]
        palette += tab20b[2::4] + tab20c[2::4] + tab20b[1::4] + tab20c[1::4]
        palette += tab20b[3::4] + tab20c[3::4]
    styles = []
    for index in range(num_classes):
        colour = palette[index % len(palette)]
        marker = MARKERS[0] if num_classes <= 10 else MARKERS[(index // 10) % len(MARKERS)]
        styles.append((colour, marker))
    return styles


def class_index(labels: np.ndarray, class_names) -> tuple[np.ndarray, list[str]]:
    """Map labels to 0..C-1 in sorted order and return the display name of each class.

    Args:
        labels: array (N,) of class ids (ints or strings).
        class_names: a sequence indexed by integer label, a dict label -> name, or None to show
            the labels themselves.

    Returns:
        ``(index, names)``: int array (N,) of class positions in 0..C-1 and the C display names.

    Raises:
        ValueError: a sequence ``class_names`` has no entry for one of the labels.
    """
    classes, inverse = np.unique(labels, return_inverse=True)
    names = []
    for value in classes:
        if class_names is None:
            names.append(str(value))
        elif isinstance(class_names, dict):
            names.append(str(class_names.get(value, class_names.get(str(value), value))))
        else:
            try:
                names.append(str(class_names[int(value)]))
            except (IndexError, ValueError, TypeError) as error:
                shown = value.item() if isinstance(value, np.generic) else value
                raise ValueError(
                    f"class_names has no entry for label {shown!r} ({len(class_names)} names "
                    "given): pass a sequence indexed by label or a dict label -> name"
                ) from error
    return inverse.reshape(-1), names


def projection_2d(
    points: np.ndarray,
    points_2d: Any,
    perplexity: float,
    seed: int,
    pca_components: int | None,
    max_iter: int,
    num_threads: int | None,
    method: str = "auto",
) -> np.ndarray:
    """Return the checked precomputed projection, or run :func:`tsne_embed` when there is none.

    Args:
        points: float array (N, D), already checked.
        points_2d: a precomputed (N, 2) projection, or None to compute one.
        perplexity, seed, pca_components, max_iter, num_threads, method: passed to
            :func:`tsne_embed`.

    Returns:
        float array (N, 2).

    Raises:
        ValueError: ``points_2d`` is not finite or not of shape (N, 2).
    """
    if points_2d is None:
        return tsne_embed(
            points,
            perplexity=perplexity,
            seed=seed,
            pca_components=pca_components,
            max_iter=max_iter,
            num_threads=num_threads,
            method=method,
        )
    points_2d = check_embeddings(points_2d, "points_2d")
    if points_2d.shape != (points.shape[0], 2):
        raise ValueError(f"points_2d must have shape ({points.shape[0]}, 2), got {points_2d.shape}")
    return points_2d


def plot_tsne(
    embeddings: Any,
    labels: Any,
    class_names: Sequence[str] | dict | None = None,
    perplexity: float = 30,
    seed: int = 0,
    pca_components: int | None = 50,
    path: str | Path | None = None,
    title: str | None = None,
    centroid_labels: bool = False,
    points_2d: Any = None,
    max_iter: int = 1000,
    num_threads: int | None = 1,
    method: str = "auto",
):
    """Scatter the t-SNE projection of ``embeddings``, one colour/marker pair per class.

    The legend sits outside the axes on the right, with several columns for many classes; with
    ``centroid_labels`` each class name is also written at the centre of its points.

    Args:
        embeddings: float array or tensor (N, D).
        labels: array (N,) of class ids (ints or strings).
        class_names: names shown in the legend: a sequence indexed by integer label or a dict
            label -> name; None shows the labels themselves.
        perplexity, seed, pca_components, max_iter, num_threads, method: passed to
            :func:`tsne_embed`.
        path: when given, the figure is saved there (.png, .svg or .pdf).
        title: axes title (default: "t-SNE of N embeddings").
        centroid_labels: also write each class name at its centroid.
        points_2d: a precomputed (N, 2) projection to plot instead of running t-SNE.

    Returns:
        matplotlib Figure.

    Raises:
        ValueError: bad shapes, mismatched lengths, empty or NaN embeddings.
    """
    points = check_embeddings(embeddings)
    labels = check_vector(labels, "labels", points.shape[0], "embeddings")
    points_2d = projection_2d(
        points, points_2d, perplexity, seed, pca_components, max_iter, num_threads, method
    )
    index, names = class_index(labels, class_names)
    figure = _draw_tsne(points_2d, index, names, title, centroid_labels)
    save_figure(figure, path)
    return figure


def _draw_tsne(
    points_2d: np.ndarray,
    index: np.ndarray,
    names: list[str],
    title: str | None,
    centroid_labels: bool,
):
    """Draw the class scatter of ``points_2d`` (N, 2) with the legend outside on the right."""
    num_classes = len(names)
    columns = max(1, math.ceil(num_classes / 22))
    longest = max(len(name) for name in names)
    legend_width = columns * (0.6 + 0.075 * min(longest, 30))
    figure = new_figure(7.0 + legend_width, 7.0, dpi=110)
    axes = figure.add_axes((0.06, 0.06, 7.0 / (7.0 + legend_width) * 0.9, 0.86))
    size = float(np.clip(3000.0 / np.sqrt(len(points_2d)), 4.0, 40.0))
    for cls, (name, (colour, marker)) in enumerate(zip(names, class_styles(num_classes))):
        members = points_2d[index == cls]
        _scatter_class(axes, members, name, colour, marker, size, centroid_labels)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title if title is not None else f"t-SNE of {len(points_2d)} embeddings")
    axes.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        ncol=columns,
        fontsize=8,
        markerscale=max(1.0, 30.0 / size) ** 0.5,
        frameon=False,
        handletextpad=0.2,
        columnspacing=0.8,
        title=f"{num_classes} classes",
    )
    return figure


def _scatter_class(axes, members, name, colour, marker, size, centroid_labels) -> None:
    """Scatter one class's points (M, 2) and, when asked, write its name at their median."""
    axes.scatter(
        members[:, 0],
        members[:, 1],
        s=size,
        color=colour,
        marker=marker,
        label=name,
        alpha=0.85,
        linewidths=0.4,
        edgecolors="0.3",
    )
    if centroid_labels:
        cx, cy = np.median(members, axis=0)
        axes.annotate(
            name,
            (cx, cy),
            xytext=(0, 5),
            textcoords="offset points",
            fontsize=7,
            ha="center",
            va="bottom",
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": colour, "alpha": 0.6},
        )
