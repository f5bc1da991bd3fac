"""Run every benchmark: ``python -m benchmarks [--quick] [--only losses,training,...]``.

Each benchmark is its own script writing JSON under ``benchmarks/results/`` and a markdown
table under ``docs/``; this entry point runs them one after the other (never in parallel:
they measure speed) and prints where each result went.

``--quick`` runs every benchmark at small sizes (a smoke test for CI, about 5 minutes on 2
cores): results go to a temporary folder (or ``--results-dir``), never over the committed
``benchmarks/results/*.json`` or the docs tables, and are printed, not asserted. A benchmark
whose optional dependencies (or the shared sample data) are missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script.

    Attributes:
        script: file name under ``benchmarks/``.
        full: arguments of the full run (results into ``benchmarks/results`` and ``docs/``).
        quick: arguments of ``--quick``; ``{out}`` is replaced by the results folder.
        requires: modules that must be importable, and ``data:<folder>`` for a folder under
            the shared data root; the benchmark is skipped with a note when one is missing.
    """

    script: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


# To add a benchmark, add one entry (name -> Benchmark); it then runs in order with the others.
BENCHMARKS = {
    "losses": Benchmark(
        "losses.py",
        quick=("--sizes", "64", "128", "--dim", "128", "--warmup", "1", "--repeats", "3",
               "--backends", "tensorflow", "--out", "{out}/losses.json",
               "--table", "{out}/benchmarks_losses.md"),
    ),
    "batch_hard_paths": Benchmark(
        "batch_hard_paths.py",
        quick=("--sizes", "128", "--dim", "64", "--rounds", "1", "--repeats", "3",
               "--backends", "tensorflow", "--out", "{out}/batch_hard_paths.json"),
    ),
    "training": Benchmark(
        "training.py",
        quick=("--cases", "simple_cnn_64", "--variants", "ours", "--steps", "2", "--rounds",
               "1", "--warmup", "1", "--out", "{out}/training.json",
               "--table", "{out}/benchmarks_training.md"),
    ),
    "training_epoch": Benchmark(
        "training_epoch.py",
        quick=("--cases", "simple_cnn_32_b256", "--epochs", "1", "--batches", "2",
               "--images-per-class", "8", "--out", "{out}/training_epoch.json",
               "--table", "{out}/benchmarks_training.md"),
    ),
    "data": Benchmark(
        "data.py",
        quick=("--dataset", "sample/reid_cuhk03", "--batches", "3", "--warmup", "1",
               "--repeats", "1", "--P", "4", "--K", "4", "--out", "{out}/data.json",
               "--table", "{out}/benchmarks_data.md"),
        requires=("data:sample/reid_cuhk03",),
    ),
    "evaluation": Benchmark(
        "evaluation.py",
        full=("--what", "all"),
        quick=("--what", "all", "--speed-size", "300", "2000", "256", "--repeats", "1",
               "--search-size", "200", "20000", "64", "--results-dir", "{out}"),
        requires=("data:sample/reid_cuhk03",),
    ),
    "metrics_100k": Benchmark(
        "metrics_100k.py",
        quick=("--pairs", "5000", "--points", "5000", "--classes", "500", "--repeats", "1",
               "--out", "{out}/metrics_100k.json", "--table", "{out}/metrics_100k.md"),
    ),
    "search": Benchmark(
        "search_index.py",
        quick=("--queries", "200", "--items", "20000", "--repeats", "1", "--approximate",
               "IVF64,Flat:nprobe=8", "HNSW16:efSearch=32", "--out", "{out}/search_index.json",
               "--table", "{out}/benchmarks_search.md"),
    ),
    "visualization": Benchmark(
        "visualization.py",
        quick=("--points", "500", "--runs", "sklearn:500:1", "opentsne:500:1", "umap:0:1",
               "--out", "{out}/visualization.json"),
    ),
    "app": Benchmark(
        "app.py",
        quick=("--queries", "3", "--items", "200", "--networks", "simple_cnn",
               "--output", "{out}/app.json"),
        requires=("fastapi", "uvicorn", "httpx"),
    ),
    "server_soak": Benchmark(
        "server_soak.py",
        quick=("--requests", "40", "--concurrency", "4", "--output", "{out}/server_soak.json"),
        requires=("fastapi", "uvicorn", "httpx"),
    ),
}  # fmt: skip


def data_root() -> Path:
    """The shared data root as :func:`embedding_net.data.data_root` finds it (no TF import)."""
    env = os.environ.get("EMBEDDING_NET_DATA")
    if env:
        return Path(env).expanduser()
    for candidate in (HERE.parent.parent / "shared" / "data", Path.cwd().parent / "shared/data"):
        if candidate.is_dir():
            return candidate
    return HERE.parent.parent / "shared" / "data"


def missing(benchmark: Benchmark) -> list[str]:
    """The requirements of ``benchmark`` that this machine lacks."""
    lacking = []
    for need in benchmark.requires:
        if need.startswith("data:"):
            if not (data_root() / need[5:]).is_dir():
                lacking.append(f"{data_root() / need[5:]} (set EMBEDDING_NET_DATA)")
        elif importlib.util.find_spec(need) is None:
            lacking.append(f"module {need}")
    return lacking


def command_of(name: str, benchmark: Benchmark, args, out: str | None) -> list[str]:
    command = [sys.executable, str(HERE / benchmark.script)]
    if args.quick:
        command += [a.replace("{out}", out) for a in benchmark.quick]
    else:
        command += list(benchmark.full)
    if args.torch_python and name in ("training", "training_epoch"):
        command += ["--torch-python", args.torch_python]
    if args.torch_python and name == "losses":
        command += ["--pml-python", args.torch_python]
    return command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    parser.add_argument("--quick", action="store_true", help="small sizes, results to a temp dir")
    parser.add_argument("--results-dir", default=None, help="with --quick: keep results here")
    parser.add_argument(
        "--torch-python",
        default=None,
        help="interpreter with torch (+ pytorch-metric-learning) for the comparison rows",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {sorted(BENCHMARKS)}")
    out = None
    if args.quick:
        out = args.results_dir or tempfile.mkdtemp(prefix="embedding_net_benchmarks_")
        Path(out).mkdir(parents=True, exist_ok=True)
    failures, total = 0, time.perf_counter()
    for name in names:
        lacking = missing(BENCHMARKS[name])
        if lacking:
            print(f"== {name}: skipped, missing {', '.join(lacking)}", flush=True)
            continue
        command = command_of(name, BENCHMARKS[name], args, out)
        start = time.perf_counter()
        print(f"== {name}: {' '.join(command)}", flush=True)
        code = subprocess.call(command, cwd=HERE.parent)
        print(f"== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        failures += code != 0
    print(f"== all: {time.perf_counter() - total:.0f} s, {failures} failed", flush=True)
    if out:
        print(f"== results in {out}: {', '.join(sorted(p.name for p in Path(out).iterdir()))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
