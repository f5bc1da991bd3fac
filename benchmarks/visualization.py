"""Benchmark: t-SNE of 10,000 embeddings (PCA pre-reduction + scikit-learn Barnes-Hut t-SNE).

10,000 points x 128-d float32 drawn around 43 class centres (the traffic-sign class count) with
enough noise that classes overlap. Reports the wall time of :func:`tsne_embed` for a few
``max_iter`` settings, how well the 2-D map keeps classes together (1-NN label agreement in 2-D
versus in the original space), the time to draw :func:`plot_tsne` from the projection, and the
size/time of the interactive HTML with 32x32 thumbnails. Writes
``benchmarks/results/visualization.json`` and prints a markdown table.

Usage:
    python benchmarks/visualization.py [--points 10000] [--configs 1000:1 1000:all 500:1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from embedding_net.visualization import plot_tsne, plot_tsne_interactive, tsne_embed

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import sklearn

    return f"{cpu}, {os.cpu_count()} CPU cores, scikit-learn {sklearn.__version__}"


def make_embeddings(num_points: int, dim: int = 128, num_classes: int = 43, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_classes, dim)).astype(np.float32) * 0.45
    labels = rng.integers(0, num_classes, num_points)
    points = centres[labels] + rng.standard_normal((num_points, dim), dtype=np.float32)
    return points, labels


def nn_agreement(points: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose nearest neighbour has the same label."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=2).fit(points).kneighbors(points, return_distance=False)
    return float(np.mean(labels[index[:, 1]] == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["1000:1", "1000:all", "500:1"],
        help="t-SNE runs as MAX_ITER:THREADS (THREADS an int or 'all' for the libraries' default)",
    )
    parser.add_argument("--html", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    points, labels = make_embeddings(args.points)
    tsne_embed(points[:60], max_iter=250)  # warm-up: imports and thread pools out of the timing
    runs = []
    projection = None
    for config in args.configs:
        max_iter, threads = config.split(":")
        max_iter, num_threads = int(max_iter), None if threads == "all" else int(threads)
        start = time.perf_counter()
        projection_run = tsne_embed(points, seed=0, max_iter=max_iter, num_threads=num_threads)
        seconds = time.perf_counter() - start
        runs.append(
            {
                "max_iter": max_iter,
                "num_threads": threads,
                "seconds": seconds,
                "nn_agreement_2d": nn_agreement(projection_run, labels),
            }
        )
        projection = projection_run if projection is None else projection
        print(f"max_iter={max_iter} threads={threads}: {seconds:.1f} s", flush=True)

    opentsne = {}
    if importlib.util.find_spec("openTSNE") is not None:
        # for comparison only: openTSNE (FFT-accelerated) is not a dependency of embedding_net
        from openTSNE import TSNE
        from sklearn.decomposition import PCA

        start = time.perf_counter()
        reduced = PCA(n_components=50, random_state=0).fit_transform(points)
        mapped = np.asarray(TSNE(perplexity=30, n_jobs=2, random_state=0).fit(reduced))
        opentsne = {
            "opentsne_fft_seconds": time.perf_counter() - start,
            "opentsne_nn_agreement_2d": nn_agreement(mapped, labels),
        }
        print(f"openTSNE (FFT): {opentsne['opentsne_fft_seconds']:.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        plot_tsne(points, labels, points_2d=projection, path=Path(folder) / "tsne.png")
        plot_seconds = time.perf_counter() - start
        html = {}
        if args.html:
            rng = np.random.default_rng(1)
            images = rng.integers(0, 256, size=(args.points, 32, 32, 3), dtype=np.uint8)
            start = time.perf_counter()
            plot_tsne_interactive(
                points,
                labels,
                images=images,
                points_2d=projection,
                path=Path(folder) / "tsne.html",
                thumbnail_size=32,
            )
            html = {
                "html_seconds": time.perf_counter() - start,
                "html_megabytes": (Path(folder) / "tsne.html").stat().st_size / 1e6,
            }

    result = {
        "benchmark": "tsne_embed on synthetic 43-class embeddings",
        "machine": machine() + " (shared machine (other jobs running): timings are noisy)",
        "points": args.points,
        "dim": int(points.shape[1]),
        "pca_components": 50,
        "nn_agreement_original_space": nn_agreement(points, labels),
        "tsne_runs": runs,
        "plot_tsne_png_seconds": plot_seconds,
        **opentsne,
        **html,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "visualization.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nMachine: {result['machine']}.\n")
    print(
        "| points x dim | max_iter | threads | t-SNE s (PCA included) "
        "| 1-NN label agreement 2-D (original) |"
    )
    print("|---|---|---|---|---|")
    for run in runs:
        print(
            f"| {args.points} x {points.shape[1]} | {run['max_iter']} | {run['num_threads']} | "
            f"{run['seconds']:.1f} | "
            f"{run['nn_agreement_2d']:.3f} ({result['nn_agreement_original_space']:.3f}) |"
        )
    if opentsne:
        print(
            f"| {args.points} x {points.shape[1]} | openTSNE FFT (comparison, not a dependency) "
            "| 2 | "
            f"{opentsne['opentsne_fft_seconds']:.1f} | {opentsne['opentsne_nn_agreement_2d']:.3f} |"
        )
    print(f"\nplot_tsne PNG from the projection: {plot_seconds:.1f} s")
    if html:
        print(
            f"interactive HTML with {args.points} 32x32 thumbnails: {html['html_seconds']:.1f} s, "
            f"{html['html_megabytes']:.1f} MB"
        )


if __name__ == "__main__":
    main()
