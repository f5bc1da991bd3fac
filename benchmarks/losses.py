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
from tables import write_block

REPO = Path(__file__).resolve().parents[1]
MARGIN = 0.2
# (loss key, description)
LOSSES = {
    "batch_hard": "batch-hard triplet (hinge, L2)",
    "semihard": "semi-hard triplet, tensorflow-addons semantics (L2)",
    "batch_all": "batch-all triplet (hinge, L2, mean over non-zero)",
    "contrastive": "contrastive, all pairs (L2, negative margin 1)",
    "multi_similarity": "multi-similarity + its pair mining (cosine, epsilon 0.1)",
    "circle": "circle (cosine, m 0.25, gamma 256)",
    "ntxent": "NT-Xent / InfoNCE (cosine, temperature 0.07)",
    "supcon": "supervised contrastive (cosine, temperature 0.1)",
    "lifted": "lifted structure (L2, negative margin 1)",
    "proxy_anchor": "proxy-anchor (B/4 proxies, alpha 32, margin 0.1; grads of proxies too)",
    "arcface": "ArcFace (B/4 classes, m 0.5 rad, s 64; grads of class weights too)",
}
# losses with a (classes, dim) weight matrix whose gradient is computed too
PARAMETRIC = ("proxy_anchor", "arcface")


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
    mean = keras.ops.mean
    fns = {  # (labels, embeddings, weights) -> scalar; weights only for PARAMETRIC
        "batch_hard": lambda y, x, w: mean(L.batch_hard_triplet_loss(y, x, MARGIN)),
        "semihard": lambda y, x, w: L.triplet_semihard_loss(y, x, MARGIN),
        "batch_all": lambda y, x, w: mean(L.batch_all_triplet_loss(y, x, MARGIN)),
        "contrastive": lambda y, x, w: mean(L.batch_contrastive_loss(y, x, margin=1.0)),
        "multi_similarity": lambda y, x, w: mean(L.multi_similarity_loss(y, x)),
        "circle": lambda y, x, w: mean(L.circle_loss(y, x, gamma=256.0, margin=0.25)),
        "ntxent": lambda y, x, w: mean(L.ntxent_loss(y, x, temperature=0.07)),
        "supcon": lambda y, x, w: mean(L.supervised_contrastive_loss(y, x, temperature=0.1)),
        "lifted": lambda y, x, w: mean(L.lifted_structure_loss(y, x)),
        "proxy_anchor": lambda y, x, w: L.proxy_anchor_loss(y, x, w),
        "arcface": lambda y, x, w: mean(L.arcface_loss(y, x, w, margin=0.5, scale=64.0)),
    }
    out = []
    for batch in args.sizes:
        y_np, x_np = make_batch(batch, args.dim)
        w_np = make_batch(batch, args.dim, seed=1)[1][: batch // 4]
        for key in args.losses:
            fn, param = fns[key], key in PARAMETRIC
            if backend == "tensorflow":
                step_c = _tf_step(fn, param, y_np, args.xla)
                impl = "embedding_net tensorflow" + (" XLA" if args.xla else "")
                res = _time(
                    lambda s=step_c, x=x_np, w=w_np: s(x, w),
                    lambda r: r[1][0].numpy(),
                    args.warmup,
                    args.repeats,
                )
            else:
                import jax

                y, x_j, w_j = (jax.numpy.asarray(a) for a in (y_np, x_np, w_np))
                grad = jax.value_and_grad(
                    lambda v, w, fn=fn, y=y: fn(y, v, w), (0, 1) if param else 0
                )
                step_c = jax.jit(grad)
                impl = "embedding_net jax (jit)"
                res = _time(
                    lambda s=step_c, x=x_j, w=w_j: s(x, w),
                    lambda r: jax.block_until_ready(r[1]),
                    args.warmup,
                    args.repeats,
                )
            out.append({"impl": impl, "loss": key, "batch": batch, "dim": args.dim, **res})
    return out


def _tf_step(fn, param: bool, y_np, xla: bool):
    """A compiled TensorFlow loss + gradient step of (embeddings, weights)."""
    import tensorflow as tf

    y = tf.constant(y_np)

    def step_fn(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            tape.watch(w)
            loss = fn(y, x, w)
        return loss, tape.gradient(loss, [x, w] if param else [x])

    compiled = tf.function(step_fn, jit_compile=xla)
    return lambda x, w: compiled(tf.constant(x), tf.constant(w))


def worker_pml(args) -> list[dict]:
    import torch
    from pytorch_metric_learning import losses, miners

    torch.set_num_threads(args.threads)
    out = []
    for batch in args.sizes:
        y_np, x_np = make_batch(batch, args.dim)
        y = torch.from_numpy(y_np.astype("int64"))
        for key in args.losses:
            loss_fn, miner = _pml_loss(key, losses, miners, batch // 4, args.dim)

            def step(loss_fn=loss_fn, miner=miner, y=y, x_np=x_np):
                x = torch.tensor(x_np, requires_grad=True)
                loss = loss_fn(x, y, miner(x, y)) if miner is not None else loss_fn(x, y)
                loss.backward()
                return x.grad

            res = _time(step, lambda g: g.numpy(), args.warmup, args.repeats)
            impl = f"pytorch-metric-learning {__import__('pytorch_metric_learning').__version__} (torch {torch.__version__})"
            out.append({"impl": impl, "loss": key, "batch": batch, "dim": args.dim, **res})
    return out


def _pml_loss(key: str, losses, miners, num_classes: int, dim: int):
    """(loss, miner or None) of pytorch-metric-learning with the settings of ``LOSSES``."""
    if key == "batch_hard":
        return losses.TripletMarginLoss(margin=MARGIN), miners.BatchHardMiner()
    if key == "semihard":
        miner = miners.TripletMarginMiner(margin=MARGIN, type_of_triplets="semihard")
        return losses.TripletMarginLoss(margin=MARGIN), miner
    made = {
        "batch_all": lambda: losses.TripletMarginLoss(margin=MARGIN),
        "contrastive": lambda: losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0),
        "multi_similarity": lambda: losses.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5),
        "circle": lambda: losses.CircleLoss(m=0.25, gamma=256.0),
        "ntxent": lambda: losses.NTXentLoss(temperature=0.07),
        "supcon": lambda: losses.SupConLoss(temperature=0.1),
        "lifted": lambda: losses.LiftedStructureLoss(neg_margin=1.0, pos_margin=0.0),
        "proxy_anchor": lambda: losses.ProxyAnchorLoss(num_classes, dim, margin=0.1, alpha=32),
        "arcface": lambda: losses.ArcFaceLoss(num_classes, dim, margin=28.6, scale=64),
    }[key]()
    miner = miners.MultiSimilarityMiner(epsilon=0.1) if key == "multi_similarity" else None
    return made, miner


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


def _run_worker(
    kind: str, args, python: str, env_extra: dict, failures: list, loss_keys=None
) -> list[dict]:
    """The results of one worker process; a worker that dies is added to ``failures``."""
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
        "--losses",
        *(loss_keys or args.losses),
    ]
    if kind == "tensorflow-xla":
        cmd += ["--xla"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), **env_extra}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        if proc.returncode == -9:
            why = ["killed by SIGKILL (the kernel's out-of-memory killer, on this machine)"]
        failures.append({"backend": kind, "losses": loss_keys or args.losses, "why": why[0]})
        sys.stderr.write(f"[{kind}] failed:\n{proc.stderr[-3000:]}\n")
        return []
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")][-1]
    return json.loads(line[len("RESULTS ") :])


def _pml_ratios(results: list[dict]) -> dict:
    """``{(loss, batch, impl): our median / PML's median}`` for every implementation of ours
    that has a PML row at the same (loss, batch)."""
    pml = {(r["loss"], r["batch"]): r["median_ms"] for r in results if _is_pml(r["impl"])}
    return {
        (r["loss"], r["batch"], r["impl"]): r["median_ms"] / pml[(r["loss"], r["batch"])]
        for r in results
        if not _is_pml(r["impl"]) and pml.get((r["loss"], r["batch"]))
    }


def _is_pml(impl: str) -> bool:
    return impl.startswith("pytorch")


def _ratios(results: list[dict]) -> dict:
    """The JSON form of :func:`_pml_ratios`: ``"<impl> / PML, <loss>, B=<batch>"`` keys."""
    return {
        f"{impl.split(' (')[0].split(' 2.')[0]} / PML, {loss}, B={batch}": ratio
        for (loss, batch, impl), ratio in _pml_ratios(results).items()
    }


def _table(payload: dict) -> str:
    m = payload["machine"]
    lines = [
        "# Loss benchmark: forward + backward of the in-batch losses",
        "",
        f"Generated by `benchmarks/losses.py` (raw numbers in `{payload['out']}`).",
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
        *_pivot(payload["results"]),
    ]
    for failure in payload.get("failures", []):
        lines += ["", f"No result for {failure['backend']} {failure['losses']}: {failure['why']}."]
    lines += ["", payload.get("notes", ""), ""]
    return "\n".join(lines)


def _pivot(results: list[dict]) -> list[str]:
    """One row per (loss, B): median ms of each implementation and the ratios to PML."""
    impls = sorted({r["impl"] for r in results}, key=lambda i: (_is_pml(i), i))
    ours = [i for i in impls if not _is_pml(i)]
    pml = next((i for i in impls if _is_pml(i)), None)
    cell = {(r["loss"], r["batch"], r["impl"]): r["median_ms"] for r in results}
    ratios = _pml_ratios(results)
    short = [i.replace("embedding_net ", "") for i in ours]
    head = ["loss", "B", *[f"{s} ms" for s in short]]
    if pml:
        head += [f"{pml} ms", *[f"{s} / PML" for s in short]]
    lines = ["| " + " | ".join(head) + " |", "| --- | ---: |" + " ---: |" * (len(head) - 2)]
    for loss in [k for k in LOSSES if any(r["loss"] == k for r in results)]:
        for batch in sorted({r["batch"] for r in results if r["loss"] == loss}):
            row = [LOSSES[loss], str(batch)]
            row += [_ms(cell.get((loss, batch, i))) for i in ours]
            if pml:
                row.append(_ms(cell.get((loss, batch, pml))))
                for i in ours:
                    ratio = ratios.get((loss, batch, i))
                    row.append("-" if ratio is None else f"{ratio:.2f}")
            lines.append("| " + " | ".join(row) + " |")
    return lines


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 1024])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--losses", nargs="+", choices=list(LOSSES), default=list(LOSSES))
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
    results, failures = [], []  # failures: workers that died (e.g. out of memory)
    for kind in args.backends:
        if kind == "pml":
            if not args.pml_python:
                sys.stderr.write("pml skipped: pass --pml-python\n")
                continue
            for key in args.losses:  # one process per loss: one that dies loses only itself
                results += _run_worker("pml", args, args.pml_python, {}, failures, [key])
        else:
            backend = "jax" if kind == "jax" else "tensorflow"
            env = {"KERAS_BACKEND": backend}
            results += _run_worker(kind, args, sys.executable, env, failures)
    machine["load_average_at_end"] = os.getloadavg()
    payload = {
        "command": "python benchmarks/losses.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine,
        "out": os.path.relpath(args.out, REPO),
        "config": {
            "sizes": args.sizes,
            "dim": args.dim,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "margin": MARGIN,
        },
        "results": results,
        "failures": failures,
        "ratios": _ratios(results),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    if args.table:  # between the markers: the hand-written sections of the page are kept
        write_block(args.table, "losses.py", _table(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
