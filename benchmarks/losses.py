"""Forward + backward time of the batch-hard and semi-hard triplet losses.

Compares embedding_net (tensorflow backend with XLA off and on, jax backend) with
pytorch-metric-learning (``TripletMarginLoss`` + ``BatchHardMiner`` / semi-hard
``TripletMarginMiner``) when an interpreter with torch and pytorch-metric-learning is given.
Each backend runs in its own subprocess. Inputs: P x K batches (K = 4 images per class),
l2-normalised standard-normal embeddings of dimension ``--dim``.

Usage::

    python benchmarks/losses.py --pml-python /work/venvs/bench/bin/python \\
        --out benchmarks/results/losses.json --table docs/benchmarks_losses.md

Timings on a shared CPU are noisy: the table reports the median and the minimum of
``--repeats`` timed calls after ``--warmup`` untimed ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MARGIN = 0.2
# (loss key, description)
LOSSES = {
    "batch_hard": "batch-hard triplet (hinge, L2)",
    "semihard": "semi-hard triplet, tensorflow-addons semantics (L2)",
}


def make_batch(batch: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, dim)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.repeat(np.arange(batch // 4), 4).astype("int32")
    return y, x


def _time(step, block, warmup: int, repeats: int):
    for _ in range(warmup):
        block(step())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(step())
        times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "median_ms": float(np.median(times)),
        "min_ms": float(np.min(times)),
        "repeats": repeats,
    }


# ---------------------------------------------------------------------------------------- workers
def worker_keras(args) -> list[dict]:
    import keras

    from embedding_net import losses as L

    backend = keras.backend.backend()
    fns = {
        "batch_hard": lambda y, x: keras.ops.mean(L.batch_hard_triplet_loss(y, x, MARGIN)),
        "semihard": lambda y, x: L.triplet_semihard_loss(y, x, MARGIN),
    }
    out = []
    for batch in args.sizes:
        y_np, x_np = make_batch(batch, args.dim)
        for key, fn in fns.items():
            if backend == "tensorflow":
                import tensorflow as tf

                y, x = tf.constant(y_np), tf.constant(x_np)

                def step_fn(x, fn=fn, y=y):
                    with tf.GradientTape() as tape:
                        tape.watch(x)
                        loss = fn(y, x)
                    return loss, tape.gradient(loss, x)

                step_c = tf.function(step_fn, jit_compile=args.xla)
                impl = "embedding_net tensorflow" + (" XLA" if args.xla else "")
                res = _time(
                    lambda s=step_c, x=x: s(x), lambda r: r[1].numpy(), args.warmup, args.repeats
                )
            else:
                import jax

                y, x = jax.numpy.asarray(y_np), jax.numpy.asarray(x_np)
                step_c = jax.jit(jax.value_and_grad(lambda v, fn=fn, y=y: fn(y, v)))
                impl = "embedding_net jax (jit)"
                res = _time(
                    lambda s=step_c, x=x: s(x),
                    lambda r: r[1].block_until_ready(),
                    args.warmup,
                    args.repeats,
                )
            out.append({"impl": impl, "loss": key, "batch": batch, "dim": args.dim, **res})
    return out


def worker_pml(args) -> list[dict]:
    import torch
    from pytorch_metric_learning import losses, miners

    torch.set_num_threads(args.threads)
    out = []
    for batch in args.sizes:
        y_np, x_np = make_batch(batch, args.dim)
        y = torch.from_numpy(y_np.astype("int64"))
        for key in LOSSES:
            loss_fn = losses.TripletMarginLoss(margin=MARGIN)
            if key == "batch_hard":
                miner = miners.BatchHardMiner()
            else:
                miner = miners.TripletMarginMiner(margin=MARGIN, type_of_triplets="semihard")

            def step(loss_fn=loss_fn, miner=miner, y=y, x_np=x_np):
                x = torch.tensor(x_np, requires_grad=True)
                loss = loss_fn(x, y, miner(x, y))
                loss.backward()
                return x.grad

            res = _time(step, lambda g: g.numpy(), args.warmup, args.repeats)
            impl = f"pytorch-metric-learning {__import__('pytorch_metric_learning').__version__} (torch {torch.__version__})"
            out.append({"impl": impl, "loss": key, "batch": batch, "dim": args.dim, **res})
    return out


# ----------------------------------------------------------------------------------------- driver
def _machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def _run_worker(kind: str, args, python: str, env_extra: dict) -> list[dict]:
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--dim",
        str(args.dim),
        "--warmup",
        str(args.warmup),
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
        "--sizes",
        *map(str, args.sizes),
    ]
    if kind == "tensorflow-xla":
        cmd += ["--xla"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), **env_extra}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        sys.stderr.write(f"[{kind}] failed:\n{proc.stderr[-3000:]}\n")
        return []
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")][-1]
    return json.loads(line[len("RESULTS ") :])


def _ratios(results: list[dict]) -> dict:
    by = {(r["impl"].split(" (")[0].split(" 2.")[0], r["loss"], r["batch"]): r for r in results}
    pml = {k[1:]: v for k, v in by.items() if k[0].startswith("pytorch-metric-learning")}
    ratios = {}
    for (impl, loss, batch), r in by.items():
        if impl.startswith("pytorch") or (loss, batch) not in pml:
            continue
        ratios[f"{impl} / PML, {loss}, B={batch}"] = (
            r["median_ms"] / pml[(loss, batch)]["median_ms"]
        )
    return ratios


def _table(payload: dict) -> str:
    m = payload["machine"]
    lines = [
        "# Loss benchmark: triplet forward + backward",
        "",
        "Generated by `benchmarks/losses.py` (raw numbers in `benchmarks/results/losses.json`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs; load average "
        f"{m['load_average_at_start'][0]:.1f} at the start, {m['load_average_at_end'][0]:.1f} at "
        f"the end), {m['platform']}, Python {m['python']}. CPU only, no GPU.",
        "",
        f"Batches: P x K with K = 4, embeddings of dimension {payload['config']['dim']}, "
        f"l2-normalised; margin {MARGIN}. Time of one loss + gradient call, median (min) over "
        f"{payload['config']['repeats']} calls after {payload['config']['warmup']} warm-up calls. "
        "The machine was shared: treat differences below ~30 % as noise.",
        "",
        f"Command: `{payload['command']}`",
        "",
        "| loss | B | implementation | median ms | min ms |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for r in sorted(payload["results"], key=lambda r: (r["loss"], r["batch"], r["impl"])):
        lines.append(
            f"| {LOSSES[r['loss']]} | {r['batch']} | {r['impl']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} |"
        )
    if payload["ratios"]:
        lines += ["", "Ratios of medians (embedding_net / pytorch-metric-learning):", ""]
        lines += ["| comparison | ratio |", "| --- | ---: |"]
        for k, v in payload["ratios"].items():
            lines.append(f"| {k} | {v:.2f} |")
    lines += ["", payload.get("notes", ""), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 1024])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--backends", nargs="+", default=["tensorflow", "tensorflow-xla", "jax", "pml"])
    p.add_argument(
        "--pml-python", default=None, help="interpreter with torch + pytorch-metric-learning"
    )
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "losses.json"))
    p.add_argument("--table", default=str(REPO / "docs" / "benchmarks_losses.md"))
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--xla", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        results = worker_pml(args) if args.worker == "pml" else worker_keras(args)
        print("RESULTS " + json.dumps(results))
        return 0

    machine = _machine()
    results = []
    for kind in args.backends:
        if kind == "pml":
            if not args.pml_python:
                sys.stderr.write("pml skipped: pass --pml-python\n")
                continue
            results += _run_worker("pml", args, args.pml_python, {})
        else:
            backend = "jax" if kind == "jax" else "tensorflow"
            results += _run_worker(kind, args, sys.executable, {"KERAS_BACKEND": backend})
    machine["load_average_at_end"] = os.getloadavg()
    payload = {
        "command": "python benchmarks/losses.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine,
        "config": {
            "sizes": args.sizes,
            "dim": args.dim,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "margin": MARGIN,
        },
        "results": results,
        "ratios": _ratios(results),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    if args.table:
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text(_table(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
