"""Benchmark: 2-D projections of 10,000 embeddings: scikit-learn t-SNE, openTSNE, UMAP.

10,000 points x 128-d float32 drawn around 43 class centres (the traffic-sign class count) with
enough noise that classes overlap. For each ``--runs`` entry ``METHOD:MAX_ITER:THREADS``
(METHOD ``sklearn``, ``opentsne`` or ``umap``; THREADS an int or ``all``) it reports the wall
time (PCA included) and the quality of the map: kNN preservation (share of each point's 10
nearest input neighbours that stay among its 10 nearest in 2-D), scikit-learn's
``trustworthiness`` (k = 10) and the 1-NN label agreement in 2-D (against the input space's).
Then the time to draw :func:`plot_tsne` from the projection and the size/time of the
interactive HTML with 32x32 thumbnails. Writes ``--out`` (default
``benchmarks/results/visualization.json``) and prints a markdown table.

Usage:
    python benchmarks/visualization.py [--points 10000] [--runs sklearn:1000:all opentsne:1000:all]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_info import cpu_info, describe

from embedding_net.visualization import (
    neighbour_preservation,
    plot_tsne,
    plot_tsne_interactive,
    tsne_embed,
    umap_embed,
)

RESULTS = Path(__file__).parent / "results"
DEFAULT_RUNS = ["sklearn:1000:all", "opentsne:1000:all", "opentsne:1000:1", "umap:0:1"]
OPTIONAL = {"opentsne": "openTSNE", "umap": "umap"}


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


def project(method: str, points: np.ndarray, max_iter: int, threads: str) -> np.ndarray:
    num_threads = None if threads == "all" else int(threads)
    if method == "umap":
        return umap_embed(points, seed=0)
    return tsne_embed(points, seed=0, max_iter=max_iter, num_threads=num_threads, method=method)


def one_run(spec: str, points: np.ndarray, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    from sklearn.manifold import trustworthiness

    method, max_iter, threads = spec.split(":")
    project(method, points[:200], 250, threads)  # warm-up: imports, numba compilation
    load = os.getloadavg()[0]
    start = time.perf_counter()
    mapped = project(method, points, int(max_iter), threads)
    seconds = time.perf_counter() - start
    row = {
        "method": method,
        "max_iter": int(max_iter) if method != "umap" else None,
        "num_threads": threads,
        "seconds": seconds,
        "load_average_1min_before": round(load, 2),
        "knn_preservation_10": neighbour_preservation(points, mapped, k=10),
        "trustworthiness_10": float(trustworthiness(points, mapped, n_neighbors=10)),
        "nn_agreement_2d": nn_agreement(mapped, labels),
    }
    print(json.dumps(row), flush=True)
    return row, mapped


def drawing(points, labels, projection, html: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        plot_tsne(points, labels, points_2d=projection, path=Path(folder) / "tsne.png")
        out = {"plot_tsne_png_seconds": time.perf_counter() - start}
        if html and importlib.util.find_spec("plotly"):
            rng = np.random.default_rng(1)
            images = rng.integers(0, 256, size=(len(points), 32, 32, 3), dtype=np.uint8)
            start = time.perf_counter()
            plot_tsne_interactive(
                points,
                labels,
                images=images,
                points_2d=projection,
                path=Path(folder) / "tsne.html",
                thumbnail_size=32,
            )
            out["html_seconds"] = time.perf_counter() - start
            out["html_megabytes"] = (Path(folder) / "tsne.html").stat().st_size / 1e6
    return out


def print_table(result: dict) -> None:
    print(f"\nCPU: {describe(result['cpu'])}; {result['note']}.\n")
    print(
        "| points x dim | method | max_iter | threads | s (PCA included) | kNN preservation@10 "
        "| trustworthiness@10 | 1-NN label agreement 2-D (input) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in result["runs"]:
        print(
            f"| {result['points']} x {result['dim']} | {run['method']} | {run['max_iter'] or '-'} "
            f"| {run['num_threads']} | {run['seconds']:.1f} | {run['knn_preservation_10']:.3f} | "
            f"{run['trustworthiness_10']:.3f} | {run['nn_agreement_2d']:.3f} "
            f"({result['nn_agreement_original_space']:.3f}) |"
        )
    print(f"\nplot_tsne PNG from the projection: {result['plot_tsne_png_seconds']:.1f} s")
    if "html_seconds" in result:
        print(
            f"interactive HTML with {result['points']} 32x32 thumbnails: "
            f"{result['html_seconds']:.1f} s, {result['html_megabytes']:.1f} MB"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="METHOD:MAX_ITER:THREADS")
    parser.add_argument("--html", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=RESULTS / "visualization.json")
    args = parser.parse_args(argv)

    cpu = cpu_info()
    points, labels = make_embeddings(args.points)
    runs, projection = [], None
    for spec in args.runs:
        module = OPTIONAL.get(spec.split(":")[0])
        if module and importlib.util.find_spec(module) is None:
            print(f"{spec}: skipped, {module} is not installed", flush=True)
            continue
        row, mapped = one_run(spec, points, labels)
        runs.append(row)
        projection = mapped if projection is None else projection
    result = {
        "benchmark": "2-D projections of synthetic 43-class embeddings",
        "command": "python benchmarks/visualization.py " + " ".join(sys.argv[1:]),
        "cpu": cpu,
        "note": "shared 2-core machine, other jobs running: timings are noisy",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "points": args.points,
        "dim": int(points.shape[1]),
        "pca_components": 50,
        "nn_agreement_original_space": nn_agreement(points, labels),
        "runs": runs,
        **drawing(points, labels, projection, args.html),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


if __name__ == "__main__":
    main()
