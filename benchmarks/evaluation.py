"""Benchmark: Market-1501-size re-id evaluation (CMC + mAP + mINP) on random embeddings.

3,368 queries x 15,913 gallery x 2048-d float32 (Market-1501 test split sizes), 751 ids,
6 cameras, ~1/16 junk. Reports wall time (median of ``--repeats`` runs), the share spent in the
distance matmul alone, and peak Python-heap memory (tracemalloc, which numpy reports into) of
one separate run. Writes ``benchmarks/results/evaluation.json`` and a markdown table.

Usage:
    python benchmarks/evaluation.py [--repeats 3] [--chunk-size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from embedding_net.evaluation import reid_metrics
from embedding_net.evaluation._inputs import DistanceChunks

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
    return f"{cpu}, {os.cpu_count()} CPU cores, numpy {np.__version__}"


def make_split(n_query, n_gallery, dim, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_query, dim), dtype=np.float32)
    g = rng.standard_normal((n_gallery, dim), dtype=np.float32)
    qid = rng.integers(0, 751, n_query)
    gid = rng.integers(0, 751, n_gallery)
    gid[rng.random(n_gallery) < 1 / 16] = -1
    qcam = rng.integers(0, 6, n_query)
    gcam = rng.integers(0, 6, n_gallery)
    return q, g, qid, gid, qcam, gcam


def run(n_query, n_gallery, dim, repeats, chunk_size):
    q, g, qid, gid, qcam, gcam = make_split(n_query, n_gallery, dim)
    times, matmul_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        reid_metrics(q, g, qid, gid, qcam, gcam, chunk_size=chunk_size)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in DistanceChunks(q, g, chunk_size=chunk_size, squared=True):
            pass
        matmul_times.append(time.perf_counter() - t0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    reid_metrics(q, g, qid, gid, qcam, gcam, chunk_size=chunk_size)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "n_query": n_query,
        "n_gallery": n_gallery,
        "dim": dim,
        "chunk_size": chunk_size,
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "distance_seconds_median": statistics.median(matmul_times),
        "peak_extra_memory_mb": peak / 2**20,
        "inputs_mb": (q.nbytes + g.nbytes) / 2**20,
        "full_distance_matrix_mb": n_query * n_gallery * 4 / 2**20,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=512)
    args = parser.parse_args(argv)
    rows = [run(3368, 15913, 2048, args.repeats, args.chunk_size)]
    result = {
        "benchmark": "reid_metrics, Market-1501 size, random embeddings",
        "machine": machine(),
        "note": "shared machine (other jobs running): timings are noisy",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "results": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "evaluation.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"Machine: {result['machine']} ({result['note']}).",
        "",
        "| queries x gallery x dim | chunk | total s (median) | distance matmul s | "
        "peak extra memory MB | full distmat would be MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_query']} x {r['n_gallery']} x {r['dim']} | {r['chunk_size']} | "
            f"{r['seconds_median']:.2f} | {r['distance_seconds_median']:.2f} | "
            f"{r['peak_extra_memory_mb']:.0f} | {r['full_distance_matrix_mb']:.0f} |"
        )
    table = "\n".join(lines)
    (RESULTS / "evaluation.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    import sys

    sys.stdout.write(main() + "\n")
