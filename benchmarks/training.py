"""Training-step throughput (images/s): embedding_net vs plain Keras vs a PyTorch loop.

Cases (each in its own subprocess, so backends and thread pools do not interfere):

* ``ours``: ``BaseNetwork(backbone) + BatchHardTripletLoss`` on P x K batches (K = 4), the
  embedding_net training step; Keras ``fit`` on the tensorflow backend (XLA off / on) or jax.
* ``plain``: the same backbone + global pooling + Dense classifier with sparse categorical
  cross-entropy, i.e. plain Keras without our layers or losses (the overhead baseline).
* ``torch``: the same ResNet18 written in plain PyTorch (torchvision's layout), fp32,
  channels_last, batch-hard triplet loss written in torch, SGD step; run with an interpreter
  that has torch (``--torch-python``).

Usage::

    python benchmarks/training.py --torch-python /work/venvs/bench/bin/python \\
        --out benchmarks/results/training.json --table docs/benchmarks_training.md

The machine, the thread count and every setting are written into the JSON. Steps are timed
after warm-up steps (compilation excluded); the table shows the median step's images/s.
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

REPO = Path(__file__).resolve().parents[1]

# (backbone, height, width, batch) cases of the issue
CASES = [
    ("resnet18", 128, 64, 64),
    ("mobilenet_v3_small", 256, 128, 64),
    ("resnet50", 256, 128, 64),
    ("resnet50", 256, 128, 128),
]


def keras_case(kind, backbone, height, width, batch, steps, warmup, jit):
    import keras
    import numpy as np

    from embedding_net.losses import BatchHardTripletLoss
    from embedding_net.models import BaseNetwork, build_backbone

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = batch * (steps + warmup)
    images = rng.integers(0, 256, (batch, height, width, 3)).astype("float32")
    labels = np.repeat(np.arange(batch // 4), 4).astype("int32")
    if kind == "ours":
        model = BaseNetwork(backbone, embedding_dim=128, input_shape=(height, width, 3))
        loss = BatchHardTripletLoss(margin=0.3)
    else:
        features, _ = build_backbone(backbone, (height, width, 3))
        inputs = keras.Input((height, width, 3))
        x = keras.layers.GlobalAveragePooling2D()(features(inputs))
        model = keras.Model(inputs, keras.layers.Dense(batch // 4)(x))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss, jit_compile=jit)

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch_index, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch_index, logs=None):
            times.append(time.perf_counter() - self.t0)

    import tensorflow as tf

    ds = tf.data.Dataset.from_tensors((images, labels)).repeat(steps + warmup)
    model.fit(ds, epochs=1, verbose=0, callbacks=[Timer()])
    del n
    step = float(np.median(times[warmup:]))
    return {"median_step_s": step, "images_per_s": batch / step, "steps_timed": len(times) - warmup}


TORCH_CODE = r"""
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
height, width, batch, steps, warmup = map(int, sys.argv[1:6])
torch.manual_seed(0)

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x):
        y = F.relu(self.b1(self.c1(x))); y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))

class ResNet18(nn.Module):
    def __init__(self, dim=128):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for i, w in enumerate((64, 128, 256, 512)):
            layers += [Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)]; cin = w
        self.layers = nn.Sequential(*layers); self.fc = nn.Linear(512, dim)
    def forward(self, x):
        x = self.layers(self.stem(x)).mean((2, 3))
        return F.normalize(self.fc(x), dim=1)

def batch_hard(emb, labels, margin=0.3):
    d = torch.cdist(emb, emb)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    hp = (d * (same & ~eye)).max(1).values
    hn = d.masked_fill(same, float("inf")).min(1).values
    return F.relu(hp - hn + margin).mean()

model = ResNet18().to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = torch.randint(0, 256, (batch, 3, height, width)).float().div(255).contiguous(memory_format=torch.channels_last)
y = torch.arange(batch // 4).repeat_interleave(4)
times = []
for i in range(steps + warmup):
    t0 = time.perf_counter()
    opt.zero_grad(); loss = batch_hard(model(x), y); loss.backward(); opt.step()
    times.append(time.perf_counter() - t0)
times = sorted(times[warmup:]); step = times[len(times) // 2]
print(json.dumps({"median_step_s": step, "images_per_s": batch / step, "steps_timed": len(times),
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
"""


def run_subprocess(args, env_backend=None, python=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if env_backend:
        env["KERAS_BACKEND"] = env_backend
    result = subprocess.run(
        [python or sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--torch-python", default=None, help="interpreter with torch installed")
    parser.add_argument("--cases", default="all", help="'all' or 'resnet18' (the quick one)")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/training.json"))
    parser.add_argument("--table", default=str(REPO / "docs/benchmarks_training.md"))
    parser.add_argument("--_worker", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._worker:
        kind, backbone, h, w, b, jit = args._worker
        result = keras_case(
            kind, backbone, int(h), int(w), int(b), args.steps, args.warmup, jit == "1"
        )
        print(json.dumps(result))
        return 0

    cases = CASES if args.cases == "all" else [c for c in CASES if c[0] == args.cases]
    rows = []
    for backbone, h, w, b in cases:
        for backend in args.backends.split(","):
            jits = ("0", "1") if backend == "tensorflow" else ("1",)
            for kind in ("ours", "plain"):
                for jit in jits:
                    worker = [__file__, "--steps", str(args.steps), "--warmup", str(args.warmup)]
                    worker += ["--_worker", kind, backbone, str(h), str(w), str(b), jit]
                    r = run_subprocess(worker, env_backend=backend)
                    rows.append(
                        {
                            "backbone": backbone,
                            "input": f"{h}x{w}",
                            "batch": b,
                            "framework": f"keras-{backend}",
                            "xla": jit == "1",
                            "model": kind,
                            **r,
                        }
                    )
                    print(rows[-1], flush=True)
        if args.torch_python and backbone == "resnet18":
            r = run_subprocess(
                ["-c", TORCH_CODE, str(h), str(w), str(b), str(args.steps), str(args.warmup)],
                python=args.torch_python,
            )
            rows.append(
                {
                    "backbone": backbone,
                    "input": f"{h}x{w}",
                    "batch": b,
                    "framework": "pytorch",
                    "xla": False,
                    "model": "torch loop",
                    **r,
                }
            )
            print(rows[-1], flush=True)

    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "device": "CPU (no GPU lent to this task)",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"machine": machine, "steps": args.steps, "rows": rows}, indent=2)
    )
    lines = [
        "# Training-step benchmark",
        "",
        f"Machine: {machine['platform']}, {machine['cpu_count']} CPU cores, {machine['device']}. "
        f"Median of {args.steps} steps after {args.warmup} warm-up steps; fp32. "
        "Command: `python benchmarks/training.py --torch-python <python with torch>`.",
        "",
        "| backbone | input | batch | framework | XLA | model | images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ips = f"{r['images_per_s']:.1f}" if "images_per_s" in r else f"error: {r.get('error')}"
        lines.append(
            f"| {r['backbone']} | {r['input']} | {r['batch']} | {r['framework']} | "
            f"{'on' if r['xla'] else 'off'} | {r['model']} | {ips} |"
        )
    Path(args.table).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
