"""Soak test of ``embedding-net serve``: N mixed requests from C concurrent clients, bounded.

The script writes a tiny gallery (class folders of small PNG/JPEG colour squares), a small
``.keras`` network (``simple_cnn``, random weights: speed does not depend on training) and an
index of the gallery encoded by that network, all in a temporary folder; starts the real
command ``python -m embedding_net serve --image-root <gallery>`` in a separate process on
127.0.0.1 (t-SNE precomputation off); then ``--concurrency`` client threads send
``--requests`` requests in a fixed seeded mix, stopping early after ``--max-seconds``:

- ``upload_search``: ``POST /api/search?k=5`` with a multipart upload (a gallery file);
- ``item``: ``GET /api/items/{id}`` (search result metadata by id);
- ``thumbnail``: ``GET /api/items/{id}/thumbnail``;
- ``static``: ``GET /`` (the page) or ``GET /api/info``.

A request fails when it raises (connection error, timeout), answers a status other than 200,
or its body contains the temporary folder's absolute path (the server must show paths relative
to the image root only). Latency is the wall time of each HTTP round trip. Writes
``benchmarks/results/server_soak.json`` (CPU named by ``lscpu``) and prints a markdown table
(copied into docs/benchmarks_server.md).

Usage:
    python benchmarks/server_soak.py [--requests 400] [--concurrency 8] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
KINDS = {"upload_search": 0.4, "item": 0.2, "thumbnail": 0.2, "static": 0.2}
IMAGE_SHAPE = (32, 32, 3)


def cpu_name() -> str:
    """The CPU model as ``lscpu`` names it, with the number of cores this process may use."""
    name = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{name} (lscpu), {len(os.sched_getaffinity(0))} CPU cores"


def write_gallery(root: Path, classes: int = 4, per_class: int = 8, seed: int = 0) -> list[Path]:
    """Class folders of noisy colour squares (PNG and JPEG); returns the written files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    files = []
    for c in range(classes):
        colour = rng.integers(30, 226, 3)
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            size = int(rng.integers(24, 48))
            pixels = np.clip(colour + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            path = folder / f"{i:02d}.{'jpg' if i % 2 else 'png'}"
            Image.fromarray(pixels).save(path, format="JPEG" if i % 2 else "PNG")
            files.append(path)
    return files


def build_model_and_index(workdir: Path) -> tuple[Path, Path, Path, list[Path]]:
    """(model file, index file, image root, image files) in ``workdir``."""
    from embedding_net import BaseNetwork
    from embedding_net.data import load_images
    from embedding_net.evaluation.index import EmbeddingIndex

    root = workdir / "gallery"
    files = write_gallery(root)
    network = BaseNetwork("simple_cnn", embedding_dim=16, input_shape=IMAGE_SHAPE)
    model_file = workdir / "net.keras"
    network.save(model_file)
    images = load_images([str(f) for f in files], image_size=IMAGE_SHAPE[:2]).images
    index = EmbeddingIndex(distance="euclidean")
    index.add(
        network.encode(images), labels=[f.parent.name for f in files], paths=[str(f) for f in files]
    )
    index_file = workdir / "index.npz"
    index.save(index_file)
    return model_file, index_file, root, files


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_file: Path, index_file: Path, root: Path, port: int, timeout_s: float):
    """``python -m embedding_net serve`` on 127.0.0.1; returns (process, start-up seconds)."""
    import httpx

    command = [sys.executable, "-m", "embedding_net", "serve", "--model", str(model_file)]
    command += ["--index", str(index_file), "--image-root", str(root), "--port", str(port)]
    command += ["--no-map-precompute"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {process.stderr.read()[-2000:]}")
        if time.perf_counter() - start > timeout_s:
            process.kill()
            raise RuntimeError(f"serve did not answer within {timeout_s:.0f} s")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=2).raise_for_status()
            return process, time.perf_counter() - start
        except httpx.TransportError:
            time.sleep(0.1)


def plan(n: int, n_items: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` (kind, item id) pairs in the fixed :data:`KINDS` mix, seeded and shuffled."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(KINDS), size=n, p=list(KINDS.values()))
    return [(str(k), int(i)) for k, i in zip(kinds, rng.integers(0, n_items, n))]


def one_request(client, kind: str, item: int, uploads: list[bytes]):
    if kind == "upload_search":
        files = {"image": (f"q{item}.png", uploads[item], "image/png")}
        return client.post("/api/search", params={"k": 5}, files=files)
    if kind == "item":
        return client.get(f"/api/items/{item}")
    if kind == "thumbnail":
        return client.get(f"/api/items/{item}/thumbnail")
    return client.get("/" if item % 2 else "/api/info")


def soak(base: str, jobs, concurrency: int, max_seconds: float, uploads, forbidden: str):
    """Send ``jobs`` from ``concurrency`` threads until done or ``max_seconds`` have passed.

    Returns:
        (records, wall seconds): one ``{"kind", "ms", "ok", "error"}`` per sent request.
    """
    import httpx

    pending = iter(jobs)
    lock = threading.Lock()
    records: list[dict] = []
    start = time.perf_counter()
    deadline = start + max_seconds

    def worker():
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.perf_counter() < deadline:
                with lock:
                    job = next(pending, None)
                if job is None:
                    return
                t0 = time.perf_counter()
                error = None
                try:
                    response = one_request(client, *job, uploads)
                    if response.status_code != 200:
                        error = f"HTTP {response.status_code}: {response.text[:200]}"
                    elif forbidden.encode() in response.content:
                        error = "the body shows an absolute path of the server"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                record = {"kind": job[0], "ms": 1000 * (time.perf_counter() - t0)}
                record.update(ok=error is None, error=error)
                with lock:
                    records.append(record)

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return records, time.perf_counter() - start


def latency(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    values = np.asarray(ms)
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p95_ms": round(float(np.percentile(values, 95)), 1),
        "max_ms": round(float(values.max()), 1),
    }


def summarise(records: list[dict], wall_s: float, planned: int) -> dict:
    failures = [r for r in records if not r["ok"]]
    out = {
        "planned_requests": planned,
        "sent_requests": len(records),
        "failures": len(failures),
        "failure_examples": sorted({r["error"] for r in failures})[:5],
        "wall_s": round(wall_s, 2),
        "requests_per_s": round(len(records) / wall_s, 1) if wall_s > 0 else None,
        "latency": latency([r["ms"] for r in records]),
        "by_kind": {},
    }
    for kind in KINDS:
        mine = [r for r in records if r["kind"] == kind]
        out["by_kind"][kind] = {
            **latency([r["ms"] for r in mine]),
            "failures": sum(not r["ok"] for r in mine),
        }
    return out


def markdown(report: dict) -> str:
    r = report["results"]
    lines = [
        "| requests | kind | p50 (ms) | p95 (ms) | max (ms) | failures |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rows = [("all", r["latency"], r["failures"])]
    rows += [(k, v, v["failures"]) for k, v in r["by_kind"].items()]
    for kind, lat, fails in rows:
        lines.append(
            f"| {lat['n']} | {kind} | {lat['p50_ms']} | {lat['p95_ms']} | {lat['max_ms']} | {fails} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests to send (400)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (8)")
    parser.add_argument(
        "--max-seconds", type=float, default=120.0, help="stop sending after this (120 s)"
    )
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--output", type=Path, default=RESULTS / "server_soak.json")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or not args.max_seconds > 0:
        parser.error("--requests, --concurrency and --max-seconds must be positive")

    report = {
        "benchmark": "embedding-net serve soak: mixed requests from concurrent clients",
        "machine": cpu_name(),
        "note": "shared machine (other jobs running): latencies are noisy; random weights",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_1_5_15_at_start": [round(v, 2) for v in os.getloadavg()],
        "config": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "max_seconds": args.max_seconds,
            "mix": KINDS,
            "network": f"simple_cnn {IMAGE_SHAPE}, 16-d",
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp).resolve()
        model_file, index_file, root, files = build_model_and_index(workdir)
        uploads = [f.read_bytes() for f in files]
        port = free_port()
        process, startup_s = start_server(model_file, index_file, root, port, args.startup_timeout)
        try:
            jobs = plan(args.requests, len(files))
            base = f"http://127.0.0.1:{port}"
            records, wall_s = soak(
                base, jobs, args.concurrency, args.max_seconds, uploads, str(workdir)
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
        report["config"]["index_items"] = len(files)
        report["startup_s"] = round(startup_s, 1)
        report["results"] = summarise(records, wall_s, args.requests)
    report["load_average_1_5_15_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["results"], indent=1))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
