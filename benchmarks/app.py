"""Benchmark of ``embedding-net serve``: one query on a 10k-item index, end to end.

For each network below, the script writes a ``.keras`` network (random weights: speed does not
depend on training) and a 10,000-item index (random unit-norm embeddings, 100 labels, paths to
real GTSRB sample images when ../shared/data is present, else to images it writes), starts the
real command ``python -m embedding_net serve`` in a separate process on 127.0.0.1 (t-SNE map
precomputation off, so that it does not compete for the CPU), and times:

- start-up: process start until ``/api/info`` answers (imports, model + index load, threshold);
- search: ``POST /api/search?k=5`` with a multipart upload, from a client in this process, wall
  time of the HTTP round trip (median / 90th percentile / max over ``--queries`` queries after
  3 warm-up queries), for a 32x32 PNG (a GTSRB image) and a 640x480 JPEG photo-sized upload;
- the k thumbnails the page then loads (first, uncached fetch);
- in-process breakdown (same network and index, no HTTP): decode + resize, network forward
  pass, index search.

Writes ``benchmarks/results/app.json`` and prints a markdown table (copied into docs/app.md).

Usage:
    python benchmarks/app.py [--queries 30] [--items 10000] [--networks simple_cnn,resnet50]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"

# name -> (backbone, input shape, embedding size)
NETWORKS = {
    "simple_cnn": ("simple_cnn", (64, 64, 3), 128),
    "resnet50": ("resnet50", (256, 128, 3), 128),
}


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
    return f"{cpu}, {os.cpu_count()} CPU cores"


def gallery_paths(n: int, workdir: Path) -> list[str]:
    """n image paths: GTSRB sample files (cycled) or, without the shared data, written PNGs."""
    from PIL import Image

    from embedding_net.data.locations import data_root

    root = data_root() / "sample" / "traffic_signs_gtsrb" / "train"
    files = sorted(str(p) for p in root.glob("*/*.png")) if root.is_dir() else []
    if not files:
        rng = np.random.default_rng(0)
        folder = workdir / "images"
        folder.mkdir()
        for i in range(50):
            path = folder / f"{i:03d}.png"
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
            files.append(str(path))
    return [files[i % len(files)] for i in range(n)]


def write_index(path: Path, n: int, dim: int, paths: list[str], seed: int = 0) -> None:
    from embedding_net.evaluation.index import EmbeddingIndex

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = EmbeddingIndex(distance="euclidean")
    index.add(x, labels=rng.integers(0, 100, n), paths=paths)
    index.save(path)


def query_uploads(paths: list[str]) -> dict[str, bytes]:
    """A small real PNG and a photo-sized JPEG (640x480, smooth gradients plus noise)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:480, 0:640]
    photo = np.stack([xx * 255 // 640, yy * 255 // 480, (xx + yy) * 255 // 1120], axis=-1)
    photo = np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=90)
    return {
        "png_32x32": Path(paths[7]).read_bytes(),
        "jpeg_640x480": buffer.getvalue(),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def summarise(times: list[float]) -> dict:
    ms = sorted(1000 * t for t in times)
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(round(0.9 * (len(ms) - 1)))],
        "max_ms": ms[-1],
        "n": len(ms),
    }


def serve_and_time(model_file, index_file, uploads, queries, k=5):
    import httpx

    port = free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [
        sys.executable,
        "-m",
        "embedding_net",
        "serve",
        "--model",
        str(model_file),
        "--index",
        str(index_file),
        "--port",
        str(port),
        "--no-map-precompute",
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"serve exited: {process.stderr.read()[-2000:]}")
                try:
                    info = client.get("/api/info").json()
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            startup = time.perf_counter() - start
            out = {"startup_s": startup, "index_size": info["index_size"], "search": {}}
            for name, data in uploads.items():
                times = []
                for i in range(queries + 3):
                    t0 = time.perf_counter()
                    response = client.post(
                        "/api/search", params={"k": k}, files={"image": (name, data)}
                    )
                    elapsed = time.perf_counter() - t0
                    response.raise_for_status()
                    if i >= 3:
                        times.append(elapsed)
                out["search"][name] = {**summarise(times), "upload_bytes": len(data)}
            results = response.json()["results"]
            t0 = time.perf_counter()
            for r in results:
                client.get(r["thumbnail_url"]).raise_for_status()
            out["thumbnails_ms"] = 1000 * (time.perf_counter() - t0)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return out


def breakdown(model_file, index_file, uploads, queries):
    """In-process timing of each step of a search (no HTTP)."""
    from embedding_net.app import SearchService

    service = SearchService.from_files(model_file, index_file)
    out = {}
    for name, data in uploads.items():
        steps = {"decode_resize": [], "network": [], "index_search": []}
        for i in range(queries + 3):
            t0 = time.perf_counter()
            image = service.decode_upload(data)
            t1 = time.perf_counter()
            embedding = service.embed(image[None])[0]
            t2 = time.perf_counter()
            service.index.search(embedding[None], k=5)
            t3 = time.perf_counter()
            if i >= 3:
                steps["decode_resize"].append(t1 - t0)
                steps["network"].append(t2 - t1)
                steps["index_search"].append(t3 - t2)
        out[name] = {step: statistics.median(v) * 1000 for step, v in steps.items()}
    return out


def markdown(report) -> str:
    lines = [
        "| network (input) | upload | search round trip median / p90 / max (ms) | "
        "decode+resize / network / index search, in-process median (ms) | start-up (s) |",
        "|---|---|---|---|---|",
    ]
    for run in report["results"]:
        for name, s in run["http"]["search"].items():
            b = run["breakdown"][name]
            lines.append(
                f"| {run['network']} {tuple(run['input_shape'])} | {name} "
                f"({s['upload_bytes'] / 1024:.0f} kB) | "
                f"{s['median_ms']:.0f} / {s['p90_ms']:.0f} / {s['max_ms']:.0f} | "
                f"{b['decode_resize']:.1f} / {b['network']:.1f} / {b['index_search']:.1f} | "
                f"{run['http']['startup_s']:.1f} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--output", type=Path, default=RESULTS / "app.json")
    args = parser.parse_args()

    from embedding_net import BaseNetwork

    load = os.getloadavg()
    report = {
        "benchmark": f"embedding-net serve: one query on a {args.items}-item index, end to end",
        "machine": machine(),
        "note": "shared machine (other jobs running): timings are noisy; random weights",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_1_5_15_at_start": [round(v, 2) for v in load],
        "results": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        paths = gallery_paths(args.items, workdir)
        uploads = query_uploads(paths)
        for name in args.networks.split(","):
            backbone, shape, dim = NETWORKS[name]
            model_file = workdir / f"{name}.keras"
            BaseNetwork(backbone, embedding_dim=dim, input_shape=shape).save(model_file)
            index_file = workdir / f"{name}_index.npz"
            write_index(index_file, args.items, dim, paths)
            http = serve_and_time(model_file, index_file, uploads, args.queries)
            run = {
                "network": name,
                "input_shape": list(shape),
                "embedding_dim": dim,
                "index_items": args.items,
                "http": http,
                "breakdown": breakdown(model_file, index_file, uploads, args.queries),
            }
            report["results"].append(run)
            print(json.dumps(run, indent=1), flush=True)
    report["load_average_1_5_15_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    print(table)
    return report


if __name__ == "__main__":
    main()
