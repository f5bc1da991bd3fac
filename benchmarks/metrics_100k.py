"""Benchmark: ``verification_metrics`` and ``retrieval_metrics`` on 100k points.

* verification: ``--pairs`` scored pairs (half matching; scores drawn from two overlapping
  Gaussians), the LFW 10-fold protocol (fold thresholds, accuracy, AUC, EER, TAR@FAR);
* retrieval: ``--points`` x ``--dim`` float32 embeddings of ``--classes`` classes (class centre +
  noise), leave-one-out precision@1, R-precision, MAP@R and recall@{1,5,10}: every point
  queries all the others (``--points``^2 distances, in query chunks, never one full matrix).

Each is timed ``--repeats`` times (median wall and CPU seconds) and its peak extra memory
measured once with ``tracemalloc``.

Writes ``--out`` (JSON, default ``benchmarks/results/metrics_100k.json``) and ``--table``
(markdown, default ``benchmarks/results/metrics_100k.md``, copied into
``docs/benchmarks_evaluation.md`` by hand).

Usage:
    python benchmarks/metrics_100k.py [--pairs 100000 --points 100000 --dim 128 --repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
from machine_info import cpu_info, describe

from embedding_net.evaluation import retrieval_metrics, verification_metrics

REPO = Path(__file__).resolve().parent.parent


def verification_inputs(n_pairs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    is_same = np.arange(n_pairs) % 2 == 0
    scores = rng.standard_normal(n_pairs) * 0.15 + np.where(is_same, 0.6, 0.3)
    return scores.astype(np.float32), is_same


def retrieval_inputs(n_points: int, dim: int, n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_points)
    centres = rng.standard_normal((n_classes, dim), dtype=np.float32)
    x = centres[labels] + rng.standard_normal((n_points, dim), dtype=np.float32) * np.float32(1.6)
    return x, labels


def timed(fn, repeats: int) -> dict:
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "seconds_median": statistics.median(walls),
        "seconds_all": walls,
        "cpu_seconds_median": statistics.median(cpus),
        "peak_extra_memory_mb": peak / 2**20,
        "result": result,
    }


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/metrics_100k.json")
    parser.add_argument("--table", type=Path, default=REPO / "benchmarks/results/metrics_100k.md")
    args = parser.parse_args(argv)
    info = cpu_info()
    # warm-up: the first call imports the Keras backend (seconds), which is not timed
    verification_metrics(np.linspace(0, 1, 20), np.arange(20) % 2 == 0)
    retrieval_metrics(np.eye(4, dtype=np.float32), np.array([0, 0, 1, 1]))
    scores, is_same = verification_inputs(args.pairs)
    verification = timed(lambda: verification_metrics(scores, is_same), args.repeats)
    x, labels = retrieval_inputs(args.points, args.dim, args.classes)
    retrieval = timed(
        lambda: retrieval_metrics(x, labels, chunk_size=args.chunk_size), args.repeats
    )
    rows = [
        {
            "function": "verification_metrics",
            "size": f"{args.pairs} pairs, 10 folds",
            **verification,
            "result": {"accuracy": verification["result"]["accuracy"]},
        },
        {
            "function": "retrieval_metrics (leave-one-out)",
            "size": f"{args.points} x {args.dim}, {args.classes} classes",
            **retrieval,
            "result": {key: retrieval["result"][key] for key in ("precision_at_1", "map_at_r")},
        },
    ]
    result = {
        "benchmark": "verification_metrics / retrieval_metrics at 100k points",
        "machine": info,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repeats": args.repeats,
        "chunk_size": args.chunk_size,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"{describe(info)}; 1-min load average {info['load_average_1min']:.1f}; median of "
        f"{args.repeats}.",
        "",
        "| function | inputs | wall s (median) | CPU s (all threads) | peak extra memory MB "
        "| result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        summary = ", ".join(f"{k} {v:.3f}" for k, v in r["result"].items())
        lines.append(
            f"| `{r['function']}` | {r['size']} | {r['seconds_median']:.2f} | "
            f"{r['cpu_seconds_median']:.2f} | {r['peak_extra_memory_mb']:.0f} | {summary} |"
        )
    table = "\n".join(lines) + "\n"
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(table)
    return table


if __name__ == "__main__":
    import sys

    sys.stdout.write(main())
