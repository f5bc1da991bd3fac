"""Whole-epoch training throughput through ``fit``, against the same epoch in a PyTorch
``DataLoader`` loop.

``benchmarks/training.py`` times training steps on one batch already in memory; this one
times what a user's epoch costs end to end: JPEG files on disk -> decode -> P x K sampler ->
augmentation (horizontal flip, reflect pad + random crop, a window per image) -> the model ->
batch-hard triplet loss (margin 0.3) -> SGD with momentum, fp32.

* ``ours``: ``embedding_net.data.pk_batches`` (tf.data, infinite) with
  ``augmentation_pipeline("reid", pad=..., erasing_probability=0)`` into
  ``model.fit(steps_per_epoch=...)`` of ``BaseNetwork(backbone, embedding_dim=128)`` +
  ``BatchHardTripletLoss(margin=0.3)``: what ``embedding-net train`` runs (one iterator for
  the run; a finite dataset makes Keras build a new one every epoch, and on CPU that stalled
  some epochs for seconds before their first batch).
* ``torch_w0`` / ``torch_w2`` (``--torch-python``): the PyTorch twin of the network
  (``benchmarks/training.py``'s ``TORCH_MODELS``), a ``Dataset`` that decodes with Pillow and
  augments with numpy (flip, reflect pad, per-image crop), a P x K ``batch_sampler``, and a
  ``DataLoader`` with 0 or 2 worker processes (persistent), in a child process.

The images are generated (class-coloured patterns plus noise, JPEG quality 90, at the
network's input size, so no resize is needed by either side) into a temporary folder, so
anyone can rerun this without data. Epoch 1 of every variant is a warm-up (tracing, worker
start-up); the variants then alternate epoch by epoch (the Keras worker hands the cores to
the PyTorch child at the end of each of its epochs, so the two never run at the same time).

Usage::

    python benchmarks/training_epoch.py --torch-python <python with torch and pillow>
    python benchmarks/training_epoch.py --cases simple_cnn_32_b256 --epochs 2   # ours only

Results: ``benchmarks/results/training_epoch.json`` and the table between the
``training_epoch.py`` markers of ``docs/benchmarks_training.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import cpu_info, describe  # noqa: E402
from tables import write_block  # noqa: E402
from training import MARGIN, TORCH_MODELS, JsonLinesChild, build_variant, chosen  # noqa: E402

K = 4
# name -> (backbone, height, width, batch, pad, classes, images per class, batches per epoch)
CASES = {
    "simple_cnn_32_b256": ("simple_cnn", 32, 32, 256, 4, 64, 160, 40),
    "resnet18": ("resnet18", 128, 64, 64, 10, 64, 40, 20),
}
TORCH_WORKERS = (0, 2)

TORCH_EPOCH_CODE = (
    TORCH_MODELS
    + r"""
import json, random, sys, time
import numpy as np
from PIL import Image
with open(sys.argv[1]) as f:  # the settings and the file list (too long for a command line)
    cfg = json.load(f)
h, w, pad, P = cfg["height"], cfg["width"], cfg["pad"], cfg["batch"] // cfg["K"]
torch.manual_seed(0)

class Files(torch.utils.data.Dataset):  # decode with Pillow, augment with numpy, per image
    def __init__(self, paths, labels):
        self.paths, self.labels = paths, labels
    def __len__(self):
        return len(self.paths)
    def __getitem__(self, i):
        with Image.open(self.paths[i]) as image:
            image = image.convert("RGB")
            if image.size != (w, h):
                image = image.resize((w, h), Image.BILINEAR)
            a = np.asarray(image)
        if random.random() < 0.5:
            a = a[:, ::-1]
        if pad:
            a = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
            dy, dx = random.randint(0, 2 * pad), random.randint(0, 2 * pad)
            a = a[dy:dy + h, dx:dx + w]
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))), self.labels[i]

class PKBatches(torch.utils.data.Sampler):  # P classes x K images per batch
    def __init__(self, labels, P, K, batches):
        self.members = {}
        for i, label in enumerate(labels):
            self.members.setdefault(label, []).append(i)
        self.classes, self.P, self.K, self.batches = sorted(self.members), P, K, batches
        self.rng = random.Random(0)
    def __len__(self):
        return self.batches
    def __iter__(self):
        for _ in range(self.batches):
            batch = []
            for c in self.rng.sample(self.classes, self.P):
                m = self.members[c]
                batch += self.rng.sample(m, self.K) if len(m) >= self.K else self.rng.choices(m, k=self.K)
            yield batch

workers = cfg["workers"]
loader = torch.utils.data.DataLoader(
    Files(cfg["paths"], cfg["labels"]),
    batch_sampler=PKBatches(cfg["labels"], P, cfg["K"], cfg["batches"]),
    num_workers=workers, persistent_workers=workers > 0)
model = (SimpleCNN() if cfg["arch"] == "simple_cnn" else ResNet18()).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
bf16 = cfg.get("precision") == "bf16"  # autocast to bfloat16 (weights stay fp32)

def epoch():
    t0, n = time.perf_counter(), 0
    for x, y in loader:
        x = x.float().div(255).contiguous(memory_format=torch.channels_last)
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = model(x)
        loss = batch_hard(emb.float(), y, cfg["margin"]); loss.backward(); opt.step()
        n += len(y)
    return [time.perf_counter() - t0, n]

print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:  # one epoch per line
    print(json.dumps(epoch()), flush=True)
"""
)


def write_images(root: Path, classes: int, per_class: int, height: int, width: int) -> list:
    """``classes`` folders of ``per_class`` JPEGs: a class's coarse colour pattern + noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    items = []
    for c in range(classes):
        folder = root / f"class_{c:03d}"
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, (4, 4, 3)).astype("float32")
        base = np.kron(base, np.ones((-(-height // 4), -(-width // 4), 1)))[:height, :width]
        for i in range(per_class):
            image = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype("uint8")
            path = folder / f"{i:04d}.jpg"
            Image.fromarray(image).save(path, quality=90)
            items.append((str(path), c))
    return items


class TorchEpochs(JsonLinesChild):
    """The PyTorch loop in a child process; ``run()`` trains one epoch and returns its
    ``(seconds, images)``."""

    def __init__(self, python, config, settings: Path):
        settings.write_text(json.dumps(config))  # the file list is too long for a command line
        super().__init__([python, "-c", TORCH_EPOCH_CODE, str(settings)])

    def run(self):
        return self.ask("1")


def keras_worker(
    case: str,
    epochs: int,
    torch_python: str | None,
    data_dir: Path,
    precision: str = "fp32",
    finite: bool = False,
) -> dict:
    """Train ``case`` for ``epochs + 1`` epochs through ``fit`` (the PyTorch loops after each
    epoch); return the per-epoch times of every variant. ``finite``: a dataset of one epoch's
    batches and no ``steps_per_epoch`` (Keras builds a new iterator every epoch)."""
    import keras
    import tensorflow as tf

    from embedding_net.data import augmentation_pipeline, pk_batches

    backbone, h, w, batch, pad, classes, per_class, batches = CASES[case]
    keras.utils.set_random_seed(0)
    if precision == "bf16":  # what training.mixed_precision: mixed_bfloat16 sets
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    items = write_images(data_dir, classes, per_class, h, w)
    augment = augmentation_pipeline("reid", (h, w), seed=0, erasing_probability=0.0, pad=pad)
    ds = pk_batches(
        items,
        batch // K,
        K,
        (h, w),
        augment=augment,
        seed=0,
        batches_per_epoch=batches if finite else None,
    )
    model = build_variant("ours", backbone, h, w, batch)
    loops = {}
    if torch_python:
        config = {"height": h, "width": w, "pad": pad, "batch": batch, "K": K, "margin": MARGIN}
        config["precision"] = precision
        config.update(arch=backbone, batches=batches, paths=[p for p, _ in items])
        config["labels"] = [label for _, label in items]
        loops = {
            f"torch_w{n}": TorchEpochs(
                torch_python, {**config, "workers": n}, data_dir.parent / f"torch_w{n}.json"
            )
            for n in TORCH_WORKERS
        }
    times = {"ours": [], **{name: [] for name in loops}}
    images = {name: [] for name in times}

    class Alternate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times["ours"].append(time.perf_counter() - self.start)
            images["ours"].append(batches * batch)
            for name, loop in loops.items():
                seconds, n = loop.run()
                times[name].append(seconds)
                images[name].append(n)

    history = model.fit(
        ds,
        epochs=epochs + 1,
        steps_per_epoch=None if finite else batches,
        verbose=0,
        callbacks=[Alternate()],
    )
    for loop in loops.values():
        loop.close()
    rows = []
    for name in times:
        timed, n = times[name][1:], images[name][1:]  # epoch 1: warm-up
        rows.append(
            {
                "model": name,
                "epoch_s": times[name],
                "images_per_epoch": images[name][0],
                "images_per_s": statistics.median(b / t for b, t in zip(n, timed)),
            }
        )
    ours = rows[0]["epoch_s"][1:]
    for row in rows[1:]:  # > 1: ours is faster than that PyTorch loop
        ratios = [t / o for o, t in zip(ours, row["epoch_s"][1:])]
        row["ours_speedup"] = {"median": statistics.median(ratios), "per_epoch": ratios}
    return {
        "rows": rows,
        "final_loss": float(history.history["loss"][-1]),
        "torch": next(iter(loops.values())).info if loops else None,
        "precision": precision,
        "finite_dataset": finite,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def write_table(path: Path, results: dict) -> None:
    """The markdown table between this script's markers in ``path`` (the rest is kept)."""
    machine = results["machine"]
    bf16 = results.get("precision") == "bf16"
    flag = (" --precision bf16" if bf16 else "") + (" --finite" if results.get("finite") else "")
    lines = [
        f"Machine: {describe(machine['cpu'])}, CPU only; {machine['platform']}. "
        + ("bf16 (Keras `mixed_bfloat16`, `torch.autocast` bfloat16). " if bf16 else "fp32. ")
        + f"Command: `python benchmarks/training_epoch.py{flag} --torch-python <python with "
        "torch and pillow>` (see its docstring).",
        "",
        "| backbone | input | batch | images / epoch | loop | images/s (median over epochs) "
        "| ours vs this loop (epoch time ratio, median) | epochs timed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ours = "ours: `pk_batches` + `fit`"
    ours = "ours: one epoch's `pk_batches` + `fit`" if results.get("finite") else ours
    for case in results["cases"]:
        where = f"| {case['backbone']} | {case['input']} | {case['batch']} |"
        if "error" in case:
            lines.append(f"{where} | error: {case['error']} | | | |")
            continue
        for row in case["rows"]:
            loop = (
                ours
                if row["model"] == "ours"
                else (
                    f"PyTorch {case['torch']['torch']}, DataLoader, "
                    f"{row['model'].removeprefix('torch_w')} workers"
                )
            )
            ratio = row.get("ours_speedup")
            ratio_text = f"{ratio['median']:.2f}x" if ratio else ""
            lines.append(
                f"{where} {row['images_per_epoch']} | {loop} | {row['images_per_s']:.1f} | "
                f"{ratio_text} | {len(row['epoch_s']) - 1} |"
            )
    write_block(path, f"training_epoch.py{flag}", "\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated: {list(CASES)}")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs (after 1 warm-up)")
    parser.add_argument("--torch-python", default=None, help="interpreter with torch + pillow")
    parser.add_argument("--batches", type=int, default=None, help="override batches per epoch")
    parser.add_argument("--images-per-class", type=int, default=None, help="override")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="bf16: Keras mixed_bfloat16 policy and torch.autocast(bfloat16)",
    )
    parser.add_argument(
        "--finite",
        action="store_true",
        help="ours on a dataset of one epoch (a new iterator every epoch), as before 2026-12-07",
    )
    parser.add_argument("--out", default=None, help="default: results/training_epoch[_bf16].json")
    parser.add_argument("--table", default=str(REPO / "docs/benchmarks_training.md"))
    parser.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.batches is not None and args.batches < 1:
        parser.error(f"--batches must be >= 1, got {args.batches}")
    if args.images_per_class is not None and args.images_per_class < K:
        parser.error(f"--images-per-class must be >= {K}, got {args.images_per_class}")
    for name, value in CASES.items():  # the overrides (the worker gets them too)
        per_class = args.images_per_class or value[6]
        CASES[name] = (*value[:6], per_class, args.batches or value[7])
    if args._worker:
        result = keras_worker(
            args._worker,
            args.epochs,
            args.torch_python,
            Path(args._data),
            args.precision,
            args.finite,
        )
        print(json.dumps(result))
        return 0
    names = chosen(parser, "--cases", args.cases, CASES)
    cases = []
    for name in names:
        backbone, h, w, batch, pad, classes, per_class, batches = CASES[name]
        case = {"case": name, "backbone": backbone, "input": f"{h}x{w}", "batch": batch}
        case.update(pad=pad, classes=classes, images_per_class=per_class, batches=batches)
        case["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        case["load_average_before"] = list(os.getloadavg())
        data = Path(tempfile.mkdtemp(prefix="training_epoch_"))
        command = [sys.executable, __file__, "--_worker", name, "--_data", str(data / "images")]
        command += ["--epochs", str(args.epochs), "--precision", args.precision]
        command += ["--finite"] if args.finite else []
        command += ["--batches", str(args.batches)] if args.batches else []
        command += ["--images-per-class", str(per_class)] if args.images_per_class else []
        command += ["--torch-python", args.torch_python] if args.torch_python else []
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
        finally:
            shutil.rmtree(data, ignore_errors=True)
        if done.returncode == 0:
            case.update(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            case["error"] = (done.stderr.strip().splitlines() or ["failed"])[-1]
        case["wall_s"] = time.perf_counter() - start
        case["load_average_after"] = list(os.getloadavg())
        cases.append(case)
        print(json.dumps(case), flush=True)
    results = {
        "machine": {
            "cpu": cpu_info(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "cases": cases,
        "precision": args.precision,
        "finite": args.finite,
    }
    suffix = ("_bf16" if args.precision == "bf16" else "") + ("_finite" if args.finite else "")
    out = Path(args.out or REPO / f"benchmarks/results/training_epoch{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if args.table:
        write_table(Path(args.table), results)
    return 1 if any("error" in c for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
