"""Training-step throughput (images/s): embedding_net vs plain Keras vs a PyTorch loop.

Each case (backbone, input size, batch) runs in its own subprocess (fresh thread pools and
graphs); inside it the model variants are built once, warmed up (tracing excluded), then
timed in ``--rounds`` interleaved rounds of ``--steps`` steps each (the order rotates every
round), so that load from other work on the machine hits every variant alike. The reported
overhead is the per-round ratio of step times, with its spread over the rounds.

Variants (same backbone, SGD with momentum, fp32, one ``train_on_batch`` per step: the same
compiled train function ``fit`` runs):

* ``ours``: ``BaseNetwork(backbone, embedding_dim=128)`` (preprocessing inside, pooling,
  Dense, ``L2Normalize``) + ``BatchHardTripletLoss(margin=0.3)`` on P x K batches (K = 4).
* ``plain``: the same maths in plain Keras, without any embedding_net object: the backbone's
  ``preprocess_input`` in a ``Lambda``, ``GlobalAveragePooling2D``, ``Dense(128)``,
  ``UnitNormalization`` and a 10-line batch-hard triplet function on ``keras.ops``. The
  worker checks that both losses agree on the same embeddings (``loss_max_abs_diff``).
* ``plain_ce`` (``--variants``): the earlier baseline, backbone + pooling + Dense classifier
  with sparse categorical cross-entropy (different loss, no preprocessing).
* ``ours_plainloss`` / ``plain_ourloss`` (``--variants``): ablations that swap the loss
  between the two models, to locate an overhead.
* ``ours_keras_bn`` (``--variants``): ``ours`` with ``keras.layers.BatchNormalization`` in
  the backbone instead of embedding_net's ``FusedBatchNormalization`` (the speed-up of the
  fused kernel on the tensorflow backend).
* ``torch`` (``--torch-python``, the ``TORCH_CASES``): the same ResNet18 (torchvision's
  layout) or simple_cnn in a plain PyTorch loop, fp32 (``--precision bf16``: autocast),
  channels_last, batch-hard triplet, SGD, in a child process that times one round whenever
  the Keras worker hands it its turn (the two never run at the same time).

Usage::

    python benchmarks/training.py                       # all cases, ours vs plain
    python benchmarks/training.py --merge --backend jax  # the same on keras-jax (XLA)
    python benchmarks/training.py --merge --jit          # keras-tensorflow with XLA
    python benchmarks/training.py --cases resnet18 --merge --torch-python <python with torch> \\
        --variants ours,plain,plain_ce,ours_plainloss,plain_ourloss --rounds 8

The machine, the load average before and after, the peak memory and every setting are
written into the JSON; the markdown table is regenerated from all rows of the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import cpu_info, describe  # noqa: E402
from tables import write_block  # noqa: E402

# name -> (backbone, height, width, batch[, backbone options]): the cases of issue #9, then
# the from-scratch backbones of the examples' 15-minute CPU configs (simple_cnn and the
# half-width ResNet18, model.width: 0.5)
CASES = {
    "resnet18": ("resnet18", 128, 64, 64),
    "mobilenet_v3_small": ("mobilenet_v3_small", 256, 128, 64),
    "resnet50_b64": ("resnet50", 256, 128, 64),
    "resnet50_b128": ("resnet50", 256, 128, 128),
    "simple_cnn": ("simple_cnn", 128, 64, 64),
    "resnet18_w05": ("resnet18", 128, 64, 64, {"width": 0.5}),
    "resnet18_w05_ls1": ("resnet18", 128, 64, 64, {"width": 0.5, "last_stride": 1}),
    "simple_cnn_64": ("simple_cnn", 64, 64, 64),
    "resnet18_w05_64": ("resnet18", 64, 64, 64, {"width": 0.5}),
    "simple_cnn_32_b256": ("simple_cnn", 32, 32, 256),
}
# the cases with a PyTorch twin of the same network (--torch-python)
TORCH_CASES = ("resnet18", "simple_cnn", "simple_cnn_64", "simple_cnn_32_b256")
VARIANTS = ("ours", "plain", "plain_ce", "ours_plainloss", "plain_ourloss", "ours_keras_bn")
EMBEDDING_DIM = 128
MARGIN = 0.3
K = 4  # images per identity in a P x K batch


def plain_batch_hard(y_true, y_pred, margin=MARGIN):
    """Batch-hard triplet loss per anchor written directly on ``keras.ops`` (the baseline)."""
    from keras import ops

    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    square = ops.sum(ops.square(y_pred), axis=1)
    d2 = square[:, None] + square[None, :] - 2.0 * ops.matmul(y_pred, ops.transpose(y_pred))
    d = ops.sqrt(ops.maximum(d2, 1e-12))
    same = ops.equal(labels[:, None], labels[None, :])
    positive = ops.logical_and(same, ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool")))
    hardest_positive = ops.max(ops.where(positive, d, -1e9), axis=1)
    hardest_negative = ops.min(ops.where(same, 1e9, d), axis=1)
    return ops.maximum(hardest_positive - hardest_negative + margin, 0.0)


def build_variant(variant, backbone, height, width, batch, jit=False, options=None):
    import keras

    from embedding_net.losses import BatchHardTripletLoss
    from embedding_net.models import BaseNetwork, build_backbone
    from embedding_net.models.backbones import with_fused_batch_norm

    shape = (height, width, 3)
    options = options or {}  # backbone options: width, last_stride
    if variant == "ours_keras_bn":  # the same network with Keras' (unfused) batch norm
        features, mode = build_backbone(backbone, shape, **options)
        model = BaseNetwork(
            with_fused_batch_norm(features, fused=False),
            embedding_dim=EMBEDDING_DIM,
            input_shape=shape,
            preprocessing=mode,
        )
    elif variant.startswith("ours"):
        model = BaseNetwork(backbone, embedding_dim=EMBEDDING_DIM, input_shape=shape, **options)
    else:
        features, mode = build_backbone(backbone, shape, **options)
        inputs = keras.Input(shape)
        x = inputs
        if variant != "plain_ce" and mode == "scale":  # simple_cnn, vgg_small: x / 255
            x = keras.layers.Rescaling(1 / 255)(x)
        elif variant != "plain_ce" and mode != "none":

            def preprocess(images, mode=mode):
                return keras.applications.imagenet_utils.preprocess_input(images, mode=mode)

            x = keras.layers.Lambda(preprocess)(x)
        x = keras.layers.GlobalAveragePooling2D()(features(x))
        if variant == "plain_ce":
            x = keras.layers.Dense(batch // K)(x)
        else:
            x = keras.layers.UnitNormalization()(keras.layers.Dense(EMBEDDING_DIM)(x))
        model = keras.Model(inputs, x)
    if variant == "plain_ce":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif variant in ("ours", "plain_ourloss"):
        loss = BatchHardTripletLoss(margin=MARGIN)
    else:
        loss = plain_batch_hard
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss, jit_compile=jit)
    return model


def keras_case(
    backbone,
    height,
    width,
    batch,
    variants,
    steps,
    warmup,
    rounds,
    jit=False,
    torch_python=None,
    options=None,
    precision="fp32",
):
    """Interleaved timing of ``variants`` in this process (plus the PyTorch loop in a child
    process when ``torch_python`` is given); returns the per-variant rows."""
    import keras
    import numpy as np
    import tensorflow as tf

    from embedding_net.losses import BatchHardTripletLoss

    keras.utils.set_random_seed(0)
    if precision == "bf16":  # Keras mixed precision: bfloat16 compute, float32 variables
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, height, width, 3)).astype("float32")
    labels = np.repeat(np.arange(batch // K), K).astype("int32")
    # device tensors once, so no step pays a host-to-device copy
    images, labels = keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)
    embeddings = rng.normal(size=(batch, EMBEDDING_DIM)).astype("float32")
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    ours_loss = np.asarray(BatchHardTripletLoss(margin=MARGIN).call(labels, embeddings))
    plain_loss = np.asarray(plain_batch_hard(labels, embeddings))
    loss_diff = float(np.max(np.abs(ours_loss - plain_loss)))

    models = {v: build_variant(v, backbone, height, width, batch, jit, options) for v in variants}
    params = {v: int(m.count_params()) for v, m in models.items()}
    for model in models.values():
        for _ in range(warmup):
            model.train_on_batch(images, labels)
    torch_loop = None
    if torch_python:
        torch_loop = TorchLoop(torch_python, height, width, batch, warmup, backbone, precision)
        variants = (*variants, "torch")
    times = {v: [[] for _ in range(rounds)] for v in variants}
    for r in range(rounds):
        order = list(variants[r % len(variants) :]) + list(variants[: r % len(variants)])
        for v in order:
            if v == "torch":
                times[v][r] = torch_loop.run(steps)
                continue
            for _ in range(steps):
                t0 = time.perf_counter()
                models[v].train_on_batch(images, labels)
                times[v][r].append(time.perf_counter() - t0)
    if torch_loop is not None:
        torch_loop.close()
    round_medians = {v: [statistics.median(t) for t in times[v]] for v in variants}
    rows = []
    for v in variants:
        all_steps = [t for per_round in times[v] for t in per_round]
        step = statistics.median(all_steps)
        row = {
            "model": v,
            "median_step_s": step,
            "images_per_s": batch / step,
            "round_median_step_s": round_medians[v],
            "steps_timed": len(all_steps),
            "params": params.get(v),
        }
        if v != "plain" and "plain" in variants:
            # > 1: this variant is slower than plain Keras by that factor (per-round ratios)
            ratios = [a / b for a, b in zip(round_medians[v], round_medians["plain"])]
            row["step_ratio_vs_plain"] = {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
                "per_round": ratios,
            }
        rows.append(row)
    extra = {
        "loss_max_abs_diff": loss_diff,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "accelerators": accelerators(),
        "tensorflow": tf.__version__,
        "torch": torch_loop.info if torch_loop else None,
        "keras": keras.__version__,
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }
    return {"rows": rows, **extra}


# the PyTorch twins of resnet18 / simple_cnn and the batch-hard loss (also used by
# benchmarks/training_epoch.py)
TORCH_MODELS = r"""
import torch, torch.nn as nn, torch.nn.functional as F

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

class SimpleCNN(nn.Module):  # embedding_net's simple_cnn: (Conv 3x3 -> MaxPool 2 -> BN -> ReLU) x 4
    def __init__(self, dim=128, filters=(32, 64, 128, 256)):
        super().__init__()
        layers, cin = [], 3
        for f in filters:  # BatchNorm momentum 0.1 here = Keras momentum 0.9
            layers += [nn.Conv2d(cin, f, 3, 1, 1), nn.MaxPool2d(2), nn.BatchNorm2d(f), nn.ReLU()]
            cin = f
        self.layers = nn.Sequential(*layers); self.fc = nn.Linear(cin, dim)
    def forward(self, x):
        return F.normalize(self.fc(self.layers(x).mean((2, 3))), dim=1)

def batch_hard(emb, labels, margin=0.3):
    d = torch.cdist(emb, emb)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    hp = (d * (same & ~eye)).max(1).values
    hn = d.masked_fill(same, float("inf")).min(1).values
    return F.relu(hp - hn + margin).mean()
"""

TORCH_CODE = (
    TORCH_MODELS
    + r"""
import json, sys, time
height, width, batch, warmup = map(int, sys.argv[1:5])
arch = sys.argv[5] if len(sys.argv) > 5 else "resnet18"
bf16 = len(sys.argv) > 6 and sys.argv[6] == "bf16"  # autocast to bfloat16 (weights stay fp32)
torch.manual_seed(0)

model = (SimpleCNN() if arch == "simple_cnn" else ResNet18()).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = torch.randint(0, 256, (batch, 3, height, width)).float().div(255).contiguous(memory_format=torch.channels_last)
y = torch.arange(batch // 4).repeat_interleave(4)

def step():
    t0 = time.perf_counter()
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        emb = model(x)
    loss = batch_hard(emb.float(), y); loss.backward(); opt.step()
    return time.perf_counter() - t0

for _ in range(warmup):
    step()
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "arch": arch, "bf16": bf16}), flush=True)
for line in sys.stdin:  # one round per line: the number of steps to time
    print(json.dumps([step() for _ in range(int(line))]), flush=True)
"""
)


class JsonLinesChild:
    """A child process (``command``) that prints one JSON line when it is ready (``info``)
    and answers every line written to its stdin with one JSON line (:meth:`ask`)."""

    def __init__(self, command):
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = json.loads(self.process.stdout.readline())

    def ask(self, line: str):
        self.process.stdin.write(f"{line}\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


class TorchLoop(JsonLinesChild):
    """The PyTorch loop (ResNet18 or simple_cnn) in a child process with ``python``, timed
    round by round (the Keras worker waits while it runs, so the two never compete for the
    cores)."""

    def __init__(self, python, height, width, batch, warmup, arch="resnet18", precision="fp32"):
        command = [python, "-c", TORCH_CODE, str(height), str(width), str(batch), str(warmup)]
        super().__init__([*command, arch, precision])

    def run(self, steps):
        """The step times (s) of ``steps`` training steps."""
        return self.ask(str(steps))


def chosen(parser, option: str, text: str, known) -> list[str]:
    """The names of the comma-separated ``text``; ``parser.error`` names ``option`` and the
    unknown ones."""
    names = [n for n in text.split(",") if n]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"{option}: unknown {unknown}; choose from {list(known)}")
    return names


def accelerators():
    """Names of the GPUs the current Keras backend sees (empty on a CPU-only machine)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def run_subprocess(args, backend="tensorflow"):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def load_average():
    return list(os.getloadavg())


def write_table(path, results):
    """Write the markdown table between this script's markers in ``path`` (see
    :func:`tables.write_block`: the text around them is kept)."""
    machine = results["machine"]
    cpu = (
        describe(machine["cpu"])
        if "cpu" in machine
        else f"{machine['cpu_count']}-core CPU ({machine['processor']})"
    )
    lines = [
        f"Machine: {cpu}, "
        f"{machine['device']}; {machine['platform']}. fp32 unless a row says bf16. "
        "Command: `python benchmarks/training.py` (see its docstring).",
        "",
        "| backbone | input | batch | framework | model | images/s | step time vs plain "
        "(median [min, max] over rounds) | rounds x steps | load avg (1 min, before/after) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case in results["cases"]:
        load = case.get("load_average_before", [None])[0], case.get("load_average_after", [None])[0]
        load_text = "" if load[0] is None else f"{load[0]:.1f} / {load[1]:.1f}"
        framework = case.get("framework", "keras-tensorflow")
        framework += ", XLA" if case.get("xla") else ""
        framework += ", bf16" if case.get("precision") == "bf16" else ""
        options = "".join(f", {k} {v}" for k, v in case.get("options", {}).items())
        where = f"| {case['backbone']}{options} | {case['input']} | {case['batch']} |"
        if "error" in case:
            lines.append(f"{where} {framework} | - | error: {case['error']} | | | {load_text} |")
            continue
        for row in case["rows"]:
            ratio = row.get("step_ratio_vs_plain")
            ratio_text = (
                "1 (reference)"
                if row["model"] == "plain"
                else f"{ratio['median']:.3f} [{ratio['min']:.3f}, {ratio['max']:.3f}]"
                if ratio
                else ""
            )
            row_framework, model = framework, row["model"]
            if model == "torch":
                row_framework, model = f"PyTorch {case['torch']['torch']}", "loop"
                row_framework += ", bf16 autocast" if case.get("precision") == "bf16" else ""
            lines.append(
                f"{where} {row_framework} | {model} | {row['images_per_s']:.1f} | {ratio_text} | "
                f"{case['rounds']} x {case['steps']} | {load_text} |"
            )
    write_block(path, "training.py", "\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated: {list(CASES)}")
    parser.add_argument("--variants", default="ours,plain", help=f"comma-separated: {VARIANTS}")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round and variant")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax"))
    parser.add_argument(
        "--jit", action="store_true", help="jit_compile=True (XLA); always on with jax"
    )
    parser.add_argument("--torch-python", default=None, help="interpreter with torch installed")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/training.json"))
    parser.add_argument("--table", default=str(REPO / "docs/benchmarks_training.md"))
    parser.add_argument(
        "--merge", action="store_true", help="keep the JSON's other cases, replace those run"
    )
    parser.add_argument("--_worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--_torch", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="bf16: Keras mixed_bfloat16 policy and torch.autocast(bfloat16)",
    )
    args = parser.parse_args(argv)

    variants = tuple(chosen(parser, "--variants", args.variants, VARIANTS))
    if args._worker:
        backbone, h, w, b = args._worker
        result = keras_case(
            backbone,
            *map(int, (h, w, b)),
            variants,
            args.steps,
            args.warmup,
            args.rounds,
            jit=args.jit,
            torch_python=args._torch,
            options=json.loads(args._options),
            precision=args.precision,
        )
        print(json.dumps(result))
        return 0

    names = chosen(parser, "--cases", args.cases, CASES)
    previous = {}
    if args.merge and Path(args.out).exists():
        previous = json.loads(Path(args.out).read_text())
    jit = args.jit or args.backend == "jax"
    setting = "" if (args.backend, jit) == ("tensorflow", False) else f"@{args.backend}"
    setting += "-xla" if jit and args.backend == "tensorflow" else ""
    setting += "@bf16" if args.precision == "bf16" else ""
    cases = []
    for name in names:
        backbone, h, w, b, *rest = CASES[name]
        options = rest[0] if rest else {}
        case = {
            "case": name + setting,
            "framework": f"keras-{args.backend}",
            "xla": jit,
            "precision": args.precision,
            "backbone": backbone,
            "options": options,
            "input": f"{h}x{w}",
            "batch": b,
            "steps": args.steps,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "load_average_before": load_average(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        worker = [__file__, "--variants", ",".join(variants), "--steps", str(args.steps)]
        worker += ["--rounds", str(args.rounds), "--warmup", str(args.warmup)]
        worker += ["--jit"] if jit else []
        worker += ["--precision", args.precision]
        worker += ["--_worker", backbone, str(h), str(w), str(b), "--_options", json.dumps(options)]
        if args.torch_python and name in TORCH_CASES:
            worker += ["--_torch", args.torch_python]
        start = time.perf_counter()
        case.update(run_subprocess(worker, args.backend))
        case["wall_s"] = time.perf_counter() - start
        case["load_average_after"] = load_average()
        cases.append(case)
        print(json.dumps(case), flush=True)
    run_names = {c["case"] for c in cases}
    cases = [c for c in previous.get("cases", []) if c.get("case") not in run_names] + cases
    order = list(CASES)
    cases.sort(key=lambda c: (order.index(c["case"].split("@")[0]), c["case"]))
    found = sorted({a for c in cases for a in c.get("accelerators", [])})
    results = {
        "machine": {
            "cpu": cpu_info(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "device": ", ".join(found) if found else "CPU only (no GPU)",
        },
        "cases": cases,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    if args.table:
        write_table(args.table, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
