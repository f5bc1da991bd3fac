"""Benchmark: EmbeddingIndex exact search against faiss IndexFlatL2, and approximate faiss indexes.

``--queries`` x ``--items`` x ``--dim`` float32 vectors drawn around 2,000 cluster centres (like
trained embeddings: identities + noise; on structure-free Gaussian noise every approximate
index needs to scan most of the data for a high recall). k = 10, L2.

1. Exact: ``EmbeddingIndex(backend="exact")`` (numpy, chunked) and faiss ``IndexFlatL2`` (the
   reference), timed as interleaved repeats; the ratio exact / faiss flat.
2. Approximate: ``EmbeddingIndex(backend="faiss", index_factory=..., search_parameters=...)``
   for each ``--approximate FACTORY:PARAM=VALUE``; recall@10 against the exact neighbours, build
   time, search time and the speed-up over the exact numpy search and over faiss flat; the
   index is saved and loaded (``np.load(allow_pickle=False)``) and must return the same result.

Writes ``--out`` (JSON, default ``benchmarks/results/search_index.json``) and ``--table``
(markdown, default ``docs/benchmarks_search.md``: the table between its ``<!-- generated ... -->``
markers, the rest of the page is kept).

Usage:
    python benchmarks/search_index.py [--queries 10000 --items 1000000 --dim 128 --repeats 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_info import cpu_info, describe
from tables import write_block

from embedding_net.evaluation import EmbeddingIndex

REPO = Path(__file__).resolve().parent.parent
DEFAULT_APPROXIMATE = ["IVF1024,Flat:nprobe=8", "IVF1024,Flat:nprobe=16", "IVF1024,Flat:nprobe=32"]


def make_data(n_query: int, n_items: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, dim), dtype=np.float32)
    items = centres[rng.integers(0, 2000, n_items)]
    items += rng.standard_normal((n_items, dim), dtype=np.float32) * np.float32(1.0)
    queries = centres[rng.integers(0, 2000, n_query)]
    queries += rng.standard_normal((n_query, dim), dtype=np.float32) * np.float32(1.0)
    return queries, items


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact k neighbours that ``found`` also returns."""
    hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, exact)]
    return float(np.sum(hits) / exact.size)


def exact_rows(queries, items, k, repeats, chunk_size):
    """Interleaved repeats of EmbeddingIndex(exact) and faiss IndexFlatL2 (when installed)."""
    index = EmbeddingIndex(backend="exact", chunk_size=chunk_size)
    index.add(items)
    runs = {"EmbeddingIndex(backend='exact')": lambda: index.search(queries, k).indices}
    if importlib.util.find_spec("faiss"):
        import faiss

        flat = faiss.IndexFlatL2(items.shape[1])
        flat.add(items)
        runs["faiss IndexFlatL2"] = lambda: flat.search(queries, k)[1]
    times = {name: [] for name in runs}
    results = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    reference = results["EmbeddingIndex(backend='exact')"]
    rows = {
        name: {
            "seconds_median": statistics.median(values),
            "seconds_all": values,
            "recall_at_k_vs_exact": recall_at_k(results[name], reference),
        }
        for name, values in times.items()
    }
    return rows, reference


def approximate_row(spec, queries, items, k, repeats, reference, folder):
    factory, _, params = spec.partition(":")
    parameters = {}
    for item in filter(None, params.split(",")):
        name, value = item.split("=")
        parameters[name] = float(value) if "." in value else int(value)
    index = EmbeddingIndex(backend="faiss", index_factory=factory, search_parameters=parameters)
    index.add(items)
    start = time.perf_counter()
    index.search(queries[:1], k)  # builds (and trains) the faiss index
    build = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = index.search(queries, k)
        times.append(time.perf_counter() - start)
    path = Path(folder) / "approximate.npz"
    index.save(path)
    loaded = EmbeddingIndex.load(path).search(queries[:1000], k)
    return {
        "index_factory": factory,
        "search_parameters": parameters,
        "build_seconds": build,
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "recall_at_k_vs_exact": recall_at_k(found.indices, reference),
        "file_megabytes": path.stat().st_size / 1e6,
        "round_trip_identical": bool(np.array_equal(loaded.indices, found.indices[:1000])),
    }


def write_table(path: Path, report: dict) -> str:
    exact = report["exact"]
    base = exact["EmbeddingIndex(backend='exact')"]["seconds_median"]
    flat = exact.get("faiss IndexFlatL2", {}).get("seconds_median")
    lines = [
        f"{report['benchmark']}. CPU: {describe(report['cpu'])}; 1-min load average "
        f"{report['cpu']['load_average_1min']} before, {report['load_average_1min_after']} after "
        f"({report['note']}). Command: `{report['command']}`.",
        "",
        "| method | search s (median) | recall@10 vs exact | x faster than exact numpy "
        "| x faster than faiss flat | build s | file MB | save/load identical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in exact.items():
        speed_flat = f"{flat / row['seconds_median']:.2f}" if flat else "-"
        lines.append(
            f"| {name} | {row['seconds_median']:.2f} | {row['recall_at_k_vs_exact']:.4f} | "
            f"{base / row['seconds_median']:.2f} | {speed_flat} | - | - | - |"
        )
    for row in report["approximate"]:
        params = ",".join(f"{k}={v}" for k, v in row["search_parameters"].items())
        speed_flat = f"{flat / row['seconds_median']:.1f}" if flat else "-"
        lines.append(
            f"| {row['index_factory']} ({params}) | {row['seconds_median']:.2f} | "
            f"{row['recall_at_k_vs_exact']:.4f} | {base / row['seconds_median']:.1f} | "
            f"{speed_flat} | {row['build_seconds']:.1f} | {row['file_megabytes']:.0f} | "
            f"{row['round_trip_identical']} |"
        )
    table = "\n".join(lines) + "\n"
    write_block(path, "search_index.py", table)
    return table


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--approximate", nargs="*", default=DEFAULT_APPROXIMATE)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/search_index.json")
    parser.add_argument("--table", type=Path, default=REPO / "docs/benchmarks_search.md")
    args = parser.parse_args(argv)
    cpu = cpu_info()
    queries, items = make_data(args.queries, args.items, args.dim)
    exact, reference = exact_rows(queries, items, 10, args.repeats, args.chunk_size)
    approximate = []
    if importlib.util.find_spec("faiss"):
        with tempfile.TemporaryDirectory() as folder:
            for spec in args.approximate:
                approximate.append(
                    approximate_row(spec, queries, items, 10, args.repeats, reference, folder)
                )
                print(json.dumps(approximate[-1]), flush=True)
    else:
        print("faiss is not installed: faiss rows skipped (pip install faiss-cpu)", flush=True)
    report = {
        "benchmark": f"10-NN search (L2), {args.queries} queries x {args.items} items x "
        f"{args.dim}-d float32, clustered",
        "command": "python benchmarks/search_index.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu,
        "load_average_1min_after": round(__import__("os").getloadavg()[0], 2),
        "note": "shared machine, other jobs running: timings are noisy",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "exact": exact,
        "approximate": approximate,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return write_table(args.table, report)


if __name__ == "__main__":
    sys.stdout.write(main())
