"""Batch-hard triplet forward + backward: the paired path against the matrix path.

``batch_hard_triplet_loss`` picks each anchor's hardest positive and negative on the
(not differentiated) distance matrix and recomputes those two distances from the embeddings
(``Miner.triplet_indices`` + ``Distance.paired``), so the backward pass is ``O(B D)``; the
matrix path (``Miner.triplet_distances``, reached by turning ``Distance.has_fast_paired`` off)
differentiates the whole ``(B, B)`` matrix and its matmul. Each backend runs in its own
process; the two paths alternate in rounds so that the machine's load hits both alike.

    python benchmarks/batch_hard_paths.py [--sizes 256 1024] [--dim 512] [--rounds 3]

Writes ``benchmarks/results/batch_hard_paths.json``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine_info import cpu_info, describe  # noqa: E402

BACKENDS = ("tensorflow", "tensorflow-xla", "jax")


def _worker(backend: str, batch: int, dim: int, path: str, repeats: int) -> dict:
    os.environ["KERAS_BACKEND"] = "jax" if backend == "jax" else "tensorflow"
    import numpy as np
    from keras import ops

    from embedding_net.distances.objects import Distance
    from embedding_net.losses import batch_hard_triplet_loss

    if path == "matrix":
        Distance.has_fast_paired = property(lambda self: False)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, dim)).astype("float32")
    y_np = np.repeat(np.arange(batch // 4), 4).astype("int32")
    if backend == "jax":
        import jax

        value_and_grad = jax.jit(
            jax.value_and_grad(lambda x, y: ops.mean(batch_hard_triplet_loss(y, x, margin=0.3)))
        )

        def step():
            return jax.block_until_ready(value_and_grad(x_np, y_np))
    else:
        import tensorflow as tf

        x, y = tf.constant(x_np), tf.constant(y_np)

        def fn(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_mean(batch_hard_triplet_loss(y, x, margin=0.3))
            return loss, tape.gradient(loss, x)

        compiled = tf.function(fn, jit_compile=backend == "tensorflow-xla")

        def step():
            loss, grad = compiled(x, y)
            return loss.numpy(), grad.numpy()

    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loss, _ = step()
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "median_ms": 1e3 * times[len(times) // 2],
        "min_ms": 1e3 * times[0],
        "loss": float(loss),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per path")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per round")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "batch_hard_paths.json")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        backend, batch, path, dim = args.worker
        print(json.dumps(_worker(backend, int(batch), int(dim), path, args.repeats)))
        return {}
    info = cpu_info()
    rows = []
    for batch in args.sizes:
        for backend in args.backends:
            runs = {"paired": [], "matrix": []}
            for _ in range(args.rounds):
                for path in ("matrix", "paired"):
                    command = [sys.executable, __file__, "--repeats", str(args.repeats),
                               "--worker", backend, str(batch), path, str(args.dim)]  # fmt: skip
                    out = subprocess.run(command, capture_output=True, text=True, check=True)
                    runs[path].append(json.loads(out.stdout.strip().splitlines()[-1]))
            row = {"batch": batch, "dim": args.dim, "backend": backend}
            for path, results in runs.items():
                row[f"{path}_ms"] = round(min(r["median_ms"] for r in results), 2)
                row[f"{path}_loss"] = results[0]["loss"]
            row["speedup"] = round(row["matrix_ms"] / row["paired_ms"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "benchmark": "batch-hard triplet (hinge, L2, margin 0.3) forward + backward, P x K (K=4)",
        "command": "python benchmarks/batch_hard_paths.py " + " ".join(argv or sys.argv[1:]),
        "cpu": info,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "timing": f"best of {args.rounds} alternating rounds of the median of {args.repeats} calls",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{describe(info)}\n")
    print("| B | backend | matrix path ms | paired path ms | speed-up |\n|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['batch']} | {r['backend']} | {r['matrix_ms']:.1f} | {r['paired_ms']:.1f} | "
              f"{r['speedup']:.2f}x |")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
