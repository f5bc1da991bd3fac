"""Data pipeline throughput: folder -> TFRecords, and TFRecords -> augmented batches (plain vs P x K).

Usage::

    python benchmarks/data.py                       # CUHK03 train split from ../shared/data
    python benchmarks/data.py --dataset sample/reid_cuhk03 --batches 20

Writes ``benchmarks/results/data.json`` and ``docs/benchmarks_data.md`` (a markdown table that
names the machine). Images/s are wall-clock over ``--batches`` batches after ``--warmup``
batches; on a shared machine they are noisy: the load average is recorded with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "platform": platform.platform(),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def images_per_second(ds, batches: int, warmup: int) -> tuple[float, float]:
    """(wall-clock images/s, images per CPU-second of this process)."""
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    n = 0
    start, cpu = time.perf_counter(), _cpu_seconds()
    for _ in range(batches):
        x, _ = next(it)
        n += int(x.shape[0])
    return n / (time.perf_counter() - start), n / max(_cpu_seconds() - cpu, 1e-9)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="train/reid_cuhk03", help="folder under the data root (cuhk03 naming)"
    )
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--P", type=int, default=16)
    parser.add_argument("--K", type=int, default=4)
    parser.add_argument(
        "--repeats", type=int, default=2, help="repeat each read measurement, keep the best"
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "data.json"))
    parser.add_argument("--table", default=str(REPO / "docs" / "benchmarks_data.md"))
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from embedding_net.data import augment, data_root, datasets, samplers, tfrecords

    root = data_root() / args.dataset
    records = datasets.list_reid_images(root, "cuhk03")
    batch = args.P * args.K
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for store, size, stage in [
            ("full", None, "folder -> TFRecords (check + copy bytes, 8 shards)"),
            ("small", (128, 64), "folder -> TFRecords (resized to 128x64 at write, 8 shards)"),
        ]:
            start, cpu = time.perf_counter(), _cpu_seconds()
            tfrecords.write_tfrecords(
                records, Path(tmp) / store, num_shards=8, image_size=size, progress=False
            )
            wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            results.append(
                {
                    "stage": stage,
                    "size": "original" if size is None else "128x64",
                    "images_per_s": len(records) / wall,
                    "images_per_cpu_s": len(records) / cpu,
                }
            )

        for size, store in [((128, 64), "full"), ((128, 64), "small"), ((224, 224), "full")]:
            label = f"{size[0]}x{size[1]}"
            src = Path(tmp) / store
            stored = "stored at original size" if store == "full" else "stored at 128x64"
            for preset in ("flip", "reid"):
                aug = augment.augmentation_pipeline(preset, image_size=size, seed=0)
                plain_wall = plain_cpu = pk_wall = pk_cpu = 0.0
                for _ in range(args.repeats):  # alternate; best of each (load noise)
                    plain = tfrecords.read_tfrecords(
                        src,
                        size,
                        augment=aug,
                        batch_size=batch,
                        repeat=True,
                        seed=0,
                        drop_remainder=True,
                    )
                    wall, cpu = images_per_second(plain, args.batches, args.warmup)
                    plain_wall, plain_cpu = max(plain_wall, wall), max(plain_cpu, cpu)
                    pk = samplers.pk_batches(
                        src,
                        args.P,
                        args.K,
                        size,
                        augment=aug,
                        camera_aware=True,
                        seed=0,
                        batches_per_epoch=None,
                    )
                    wall, cpu = images_per_second(pk, args.batches, args.warmup)
                    pk_wall, pk_cpu = max(pk_wall, wall), max(pk_cpu, cpu)
                results.append(
                    {
                        "stage": f"TFRecords ({stored}) -> decode+resize+{preset} (plain reading)",
                        "size": label,
                        "images_per_s": plain_wall,
                        "images_per_cpu_s": plain_cpu,
                    }
                )
                results.append(
                    {
                        "stage": f"TFRecords ({stored}) -> decode+resize+{preset} (P x K sampler, camera-aware)",
                        "size": label,
                        "images_per_s": pk_wall,
                        "images_per_cpu_s": pk_cpu,
                        "vs_plain_wall": pk_wall / plain_wall - 1.0,
                        "vs_plain_cpu": pk_cpu / plain_cpu - 1.0,
                    }
                )
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    report = {
        "benchmark": "data",
        "dataset": args.dataset,
        "num_images": len(records),
        "batch": {"P": args.P, "K": args.K},
        "batches": args.batches,
        "machine": machine(),
        "load_average_1_5_15": [round(v, 2) for v in load],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in results
        ],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    m = report["machine"]
    lines = [
        "# Data pipeline benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, TensorFlow {m['tensorflow']}, Python {m['python']}; "
        f"load average during the run {report['load_average_1_5_15']} (shared machine: numbers are noisy).",
        f"Data: `{args.dataset}` ({len(records)} JPEG images), batches of P={args.P} x K={args.K} = {batch}, "
        f"{args.batches} timed batches after {args.warmup} warm-up batches, best of {args.repeats}.",
        f"Command: `python benchmarks/data.py --dataset {args.dataset} --batches {args.batches} "
        f"--warmup {args.warmup} --repeats {args.repeats} --P {args.P} --K {args.K}`",
        "",
        "images/s: wall clock. images/CPU-s: images per CPU-second used by the benchmark process "
        "(less sensitive to other users' load; x cores = what an idle machine could reach when "
        "the pipeline keeps every core busy).",
        "",
        "| stage | size | images/s | images/CPU-s | P x K vs plain (wall / CPU) |",
        "|---|---|---:|---:|---:|",
    ]
    for r in report["results"]:
        vs = (
            f"{100 * r['vs_plain_wall']:+.1f} % / {100 * r['vs_plain_cpu']:+.1f} %"
            if "vs_plain_wall" in r
            else ""
        )
        lines.append(
            f"| {r['stage']} | {r['size']} | {r['images_per_s']:,.0f} | {r['images_per_cpu_s']:,.0f} | {vs} |"
        )
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    Path(args.table).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
