"""Benchmarks of embedding_net.evaluation.

1. ``--what speed``: Market-1501-size re-id evaluation (CMC + mAP + mINP) on random embeddings.

3,368 queries x 15,913 gallery x 2048-d float32 (Market-1501 test split sizes), 751 ids,
6 cameras, ~1/16 junk. Reports wall time (median of ``--repeats`` runs), the share spent in the
distance matmul alone, and peak Python-heap memory (tracemalloc, which numpy reports into) of
one separate run. Writes ``benchmarks/results/evaluation.json`` and a markdown table.

2. ``--what reranking``: effect of flip TTA, average query expansion and k-reciprocal
re-ranking on the shared CUHK03 sample (32 ids, 317 images; query = first image of each
id and camera, gallery = the rest, Market protocol), with hand-crafted embeddings (no trained
re-id network exists in the project yet): stripe colour histograms and raw pixels. Writes
``benchmarks/results/evaluation_reranking.json`` / ``.md``.

3. ``--what search``: exact k-NN search (k=10) of ``--search-size Q N D`` random float32
vectors with ``EmbeddingIndex`` backends ("exact" numpy, "keras" on the active Keras backend,
"faiss" when installed) against the plain baselines (numpy matmul + argpartition; torch
matmul + topk when torch is installed, on CUDA when available). The issue's GPU setting is
``--search-size 10000 1000000 512`` (needs a GPU machine). Writes
``benchmarks/results/evaluation_search.json`` / ``.md``.

Usage:
    python benchmarks/evaluation.py [--what speed|reranking|search|all] [--repeats 3]
        [--chunk-size 512] [--search-size 1000 200000 128]
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
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = (
                f", {info[0].get('internal_api')} {info[0].get('version')} "
                f"({info[0].get('architecture')} kernels, {info[0].get('num_threads')} threads)"
            )
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores, numpy {np.__version__}{blas}"


def make_split(n_query, n_gallery, dim, seed=0, clustered=False):
    """Random split; ``clustered=True``: identity centre + noise (ranking like a trained net)."""
    rng = np.random.default_rng(seed)
    qid = rng.integers(0, 751, n_query)
    gid = rng.integers(0, 751, n_gallery)
    q = rng.standard_normal((n_query, dim), dtype=np.float32)
    g = rng.standard_normal((n_gallery, dim), dtype=np.float32)
    if clustered:
        centres = rng.standard_normal((751, dim), dtype=np.float32) * np.float32(0.05)
        q = q * np.float32(0.15) + centres[qid]
        g = g * np.float32(0.15) + centres[gid]
    gid[rng.random(n_gallery) < 1 / 16] = -1
    qcam = rng.integers(0, 6, n_query)
    gcam = rng.integers(0, 6, n_gallery)
    return q, g, qid, gid, qcam, gcam


def run(n_query, n_gallery, dim, repeats, chunk_size, clustered=False):
    q, g, qid, gid, qcam, gcam = make_split(n_query, n_gallery, dim, clustered=clustered)
    times, cpu_times, matmul_times = [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        reid_metrics(q, g, qid, gid, qcam, gcam, chunk_size=chunk_size)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        t0 = time.perf_counter()
        for _ in DistanceChunks(q, g, chunk_size=chunk_size, ranking_only=True):
            pass
        matmul_times.append(time.perf_counter() - t0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    res = reid_metrics(q, g, qid, gid, qcam, gcam, chunk_size=chunk_size)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "embeddings": "clustered (identity centre + noise)" if clustered else "random",
        "mAP": res["mAP"],
        "n_query": n_query,
        "n_gallery": n_gallery,
        "dim": dim,
        "chunk_size": chunk_size,
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "cpu_seconds_median": statistics.median(cpu_times),
        "distance_seconds_median": statistics.median(matmul_times),
        "peak_extra_memory_mb": peak / 2**20,
        "inputs_mb": (q.nbytes + g.nbytes) / 2**20,
        "full_distance_matrix_mb": n_query * n_gallery * 4 / 2**20,
    }


def stripe_histograms(images, stripes=6, bins=8):
    """Per horizontal stripe, an 8-bin histogram per RGB channel; sqrt (Hellinger), L2-normed."""
    x = np.asarray(images, dtype=np.float32)
    n, h = x.shape[:2]
    q = np.minimum((x / 256.0 * bins).astype(np.int64), bins - 1)
    feats = []
    for s in range(stripes):
        part = q[:, s * h // stripes : (s + 1) * h // stripes]
        for c in range(3):
            flat = part[..., c].reshape(n, -1)
            hist = np.stack([np.bincount(row, minlength=bins) for row in flat]).astype(np.float32)
            feats.append(hist / flat.shape[1])
    f = np.sqrt(np.concatenate(feats, axis=1))
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def raw_pixels(images):
    """32 x 16 average-pooled pixels, centred per image, L2-normed."""
    x = np.asarray(images, dtype=np.float32)
    n, h, w, c = x.shape
    x = x.reshape(n, 32, h // 32, 16, w // 16, c).mean(axis=(2, 4)).reshape(n, -1)
    x -= x.mean(axis=1, keepdims=True)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reranking_study():
    from embedding_net.data import data_root, load_images
    from embedding_net.evaluation import (
        average_query_expansion,
        encode_with_flip,
        k_reciprocal_rerank,
        reid_metrics,
        reid_metrics_from_distances,
    )

    root = data_root() / "sample" / "reid_cuhk03"
    rows = [line.split(",") for line in (root / "labels.csv").read_text().splitlines()[1:]]
    paths = [str(root / r[0]) for r in rows]
    pids = np.array([int(r[1]) for r in rows])
    cams = np.array([int(r[2]) for r in rows])
    loaded = load_images(paths, image_size=(128, 64))
    pids, cams = pids[loaded.kept], cams[loaded.kept]
    names = [paths[i] for i in loaded.kept]
    first = {}
    for i, (p, c, name) in enumerate(zip(pids, cams, names)):
        if (p, c) not in first or name < names[first[(p, c)]]:
            first[(p, c)] = i
    is_query = np.zeros(len(pids), dtype=bool)
    is_query[list(first.values())] = True
    qi, gi = np.flatnonzero(is_query), np.flatnonzero(~is_query)

    def dist(a, b):
        return np.sqrt(np.maximum(2.0 - 2.0 * a @ b.T, 0.0))  # unit vectors

    def summary(res):
        return {"mAP": res["mAP"], "rank1": float(res["cmc"][0]), "rank5": float(res["cmc"][4])}

    out = []
    for name, fn in (("stripe colour histograms", stripe_histograms), ("raw pixels", raw_pixels)):
        plain = fn(loaded.images)
        flipped = encode_with_flip(fn, loaded.images, batch_size=64)
        for variant, e in (("", plain), (" + flip", flipped)):
            q, g = e[qi], e[gi]
            args = (pids[qi], pids[gi], cams[qi], cams[gi])
            out.append(
                {
                    "embedding": name + variant,
                    "method": "baseline",
                    **summary(reid_metrics(q, g, *args)),
                }
            )
            qe = average_query_expansion(q, g, k=2, distance="euclidean")
            out.append(
                {
                    "embedding": name + variant,
                    "method": "average QE (k=2)",
                    **summary(reid_metrics(qe, g, *args)),
                }
            )
            for k1, k2 in ((20, 6), (6, 3)):
                d = k_reciprocal_rerank(dist(q, g), dist(q, q), dist(g, g), k1=k1, k2=k2)
                out.append(
                    {
                        "embedding": name + variant,
                        "method": f"k-reciprocal (k1={k1}, k2={k2}, lambda=0.3)",
                        **summary(reid_metrics_from_distances(d, *args)),
                    }
                )
    result = {
        "benchmark": "re-ranking on the CUHK03 sample (hand-crafted embeddings)",
        "split": f"{len(qi)} queries x {len(gi)} gallery, 32 ids, cameras 1/2, Market protocol",
        "results": out,
    }
    return write_reranking(result)


def write_reranking(result: dict) -> str:
    """Write the re-ranking study's JSON and markdown table; return the table."""
    out = result["results"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "evaluation_reranking.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"CUHK03 sample, {result['split']}.",
        "",
        "| embedding | method | mAP | rank-1 | rank-5 |",
        "|---|---|---|---|---|",
    ]
    for r in out:
        lines.append(
            f"| {r['embedding']} | {r['method']} | {r['mAP']:.3f} | {r['rank1']:.3f} | "
            f"{r['rank5']:.3f} |"
        )
    table = "\n".join(lines)
    (RESULTS / "evaluation_reranking.md").write_text(table + "\n")
    return table


def search_benchmark(n_query, n_items, dim, repeats, k=10):
    import importlib.util

    from embedding_net.evaluation import EmbeddingIndex

    rng = np.random.default_rng(0)
    data = rng.standard_normal((n_items, dim), dtype=np.float32)
    queries = rng.standard_normal((n_query, dim), dtype=np.float32)
    timings = {}
    reference = None

    def timed(name, fn):
        nonlocal reference
        fn()  # warm-up (device copy, compilation)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            idx = fn()
            times.append(time.perf_counter() - t0)
        if reference is None:
            reference = idx
        timings[name] = {
            "seconds_median": statistics.median(times),
            "agreement_with_first": float(np.mean(np.sort(idx, 1) == np.sort(reference, 1))),
        }

    def plain_numpy():
        sq = np.einsum("ij,ij->i", data, data)
        out = []
        for s in range(0, n_query, 1024):
            d = sq[None, :] - 2.0 * (queries[s : s + 1024] @ data.T)
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            order = np.argsort(np.take_along_axis(d, part, 1), axis=1)
            out.append(np.take_along_axis(part, order, 1))
        return np.concatenate(out)

    timed("plain numpy matmul + argpartition", plain_numpy)
    backends = ["exact", "keras"] + (["faiss"] if importlib.util.find_spec("faiss") else [])
    for backend in backends:
        index = EmbeddingIndex(backend=backend, chunk_size=1024)
        index.add(data)
        timed(
            f"EmbeddingIndex(backend={backend!r})",
            lambda index=index: index.search(queries, k).indices,
        )
    if importlib.util.find_spec("torch"):
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        data_t = torch.from_numpy(data).to(dev)
        sq_t = (data_t * data_t).sum(1)

        def plain_torch():
            out = []
            for s in range(0, n_query, 1024):
                qt = torch.from_numpy(queries[s : s + 1024]).to(dev)
                d = sq_t[None, :] - 2.0 * qt @ data_t.T
                out.append(torch.topk(d, k, largest=False).indices.cpu().numpy())
            return np.concatenate(out)

        timed(f"plain torch matmul + topk ({dev})", plain_torch)
    import keras

    result = {
        "benchmark": f"exact {k}-NN search, {n_query} queries x {n_items} items x {dim}-d",
        "machine": machine(),
        "keras_backend": keras.backend.backend(),
        "load_average_1min": os.getloadavg()[0],
        "results": timings,
    }
    return write_search(result)


def write_search(result: dict) -> str:
    """Write the exact-search benchmark's JSON and markdown table; return the table."""
    timings = result["results"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "evaluation_search.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"{result['benchmark']}; {result['machine']}; Keras backend {result['keras_backend']}; "
        f"1-min load average {result['load_average_1min']:.1f}.",
        "",
        "| method | seconds (median) | same neighbours as the first row |",
        "|---|---|---|",
    ]
    for name, r in timings.items():
        lines.append(f"| {name} | {r['seconds_median']:.2f} | {r['agreement_with_first']:.4f} |")
    table = "\n".join(lines)
    (RESULTS / "evaluation_search.md").write_text(table + "\n")
    return table


def main(argv=None):
    global RESULTS  # --results-dir moves every output
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=("speed", "reranking", "search", "all"), default="speed")
    parser.add_argument(
        "--search-size", type=int, nargs=3, default=(1000, 200000, 128), metavar=("Q", "N", "D")
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument(
        "--suffix", default="", help="speed results go to evaluation{suffix}.json / .md"
    )
    parser.add_argument(
        "--speed-size", type=int, nargs=3, default=(3368, 15913, 2048), metavar=("Q", "G", "D")
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    RESULTS = args.results_dir
    tables = []
    if args.what in ("reranking", "all"):
        tables.append(reranking_study())
    if args.what in ("search", "all"):
        tables.append(search_benchmark(*args.search_size, repeats=args.repeats))
    if args.what in ("reranking", "search"):
        return tables[0]
    load = os.getloadavg()[0]
    rows = [
        run(*args.speed_size, args.repeats, args.chunk_size),
        run(*args.speed_size, args.repeats, args.chunk_size, clustered=True),
    ]
    result = {
        "benchmark": "reid_metrics, {} x {} x {} (Market-1501 size by default)".format(
            *args.speed_size
        ),
        "machine": machine(),
        "note": "shared machine (other jobs running): timings are noisy",
        "load_average_1min_before": load,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "results": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"evaluation{args.suffix}.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"Machine: {result['machine']} ({result['note']}; 1-min load average before the run: "
        f"{load:.1f}).",
        "",
        "| embeddings (mAP) | queries x gallery x dim | chunk | wall s (median) | "
        "CPU s (all threads) | distance matmul wall s | peak extra memory MB | "
        "full distmat would be MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['embeddings']} ({r['mAP']:.2f}) | "
            f"{r['n_query']} x {r['n_gallery']} x {r['dim']} | {r['chunk_size']} | "
            f"{r['seconds_median']:.2f} | {r['cpu_seconds_median']:.2f} | "
            f"{r['distance_seconds_median']:.2f} | "
            f"{r['peak_extra_memory_mb']:.0f} | {r['full_distance_matrix_mb']:.0f} |"
        )
    table = "\n".join(lines)
    (RESULTS / f"evaluation{args.suffix}.md").write_text(table + "\n")
    return "\n\n".join([*tables, table])


if __name__ == "__main__":
    import sys

    sys.stdout.write(main() + "\n")
