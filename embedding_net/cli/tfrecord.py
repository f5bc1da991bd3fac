"""``embedding-net tfrecord``: a dataset folder -> sharded TFRecords + manifest.

Examples::

    embedding-net tfrecord ../shared/data/sample/reid_cuhk03 out/cuhk03 --layout cuhk03 --val-fraction 0.2
    embedding-net tfrecord ../shared/data/sample/traffic_signs_gtsrb out/gtsrb --layout gtsrb --split-by given
    embedding-net tfrecord photos/ out/photos --layout folders --num-shards 8 --overwrite
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from embedding_net.cli._loading import layout_argument
from embedding_net.data.datasets import layout_names

# every layout whose records name image files (not ``tfrecord`` itself)
LAYOUTS = layout_names(image_files=True)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "tfrecord",
        help="write a dataset folder as sharded TFRecords (train/val split by identity)",
        description=(
            "Read a dataset (class folders, re-id file names, GTSRB, LFW or a triplets CSV) and "
            "write sharded TFRecord files, a byte-offset index and manifest.json (label map, "
            "counts, skipped files). Refuses to write into a folder holding TFRecords unless "
            "--overwrite is given."
        ),
    )
    parser.add_argument("input", help="dataset folder (or the CSV file for --layout triplets_csv)")
    parser.add_argument("output", help="output folder")
    parser.add_argument(
        "--layout",
        type=layout_argument,
        choices=LAYOUTS,
        default="folders",
        help="how labels are read (default: folders)",
    )
    parser.add_argument("--num-shards", type=int, default=4, help="training shards (default: 4)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="fraction of identities held out (default: 0)",
    )
    parser.add_argument(
        "--split-by",
        choices=("identity", "tracklet", "image", "given"),
        default="identity",
        help="split unit: identity (default), tracklet, image, or the given train/ and val/ folders",
    )
    parser.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), help="store images resized to H W"
    )
    parser.add_argument(
        "--people-file", help="LFW people file selecting the people to write (--layout lfw)"
    )
    parser.add_argument(
        "--num-workers", type=int, default=None, help="encoding threads (default: CPU count)"
    )
    parser.add_argument("--seed", type=int, default=0, help="split/order seed (default: 0)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing TFRecords in OUTPUT"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _records(args):
    from embedding_net.cli import UsageError
    from embedding_net.data.datasets import get_layout

    source = Path(args.input)
    if not source.exists():
        raise UsageError(f"input {source} does not exist")
    layout = get_layout(args.layout)
    if layout.source == "folder" and not source.is_dir():
        raise UsageError(f"input {source} is not a folder (layout {layout.name!r})")
    return layout.read(source, args.people_file).records


def run(args) -> int:
    from embedding_net.cli import UsageError
    from embedding_net.data.tfrecords import existing_outputs, write_tfrecords

    output = Path(args.output)
    existing = existing_outputs(output)
    if existing and not args.overwrite:
        raise UsageError(
            f"{output} already holds TFRecords ({existing[0].name}, ...): add --overwrite to replace them"
        )
    if args.num_shards < 1:
        raise UsageError(f"--num-shards must be >= 1, got {args.num_shards}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    records = _records(args)
    manifest = write_tfrecords(
        records,
        output,
        num_shards=args.num_shards,
        val_fraction=args.val_fraction,
        split_by=args.split_by,
        overwrite=args.overwrite,
        num_workers=args.num_workers,
        image_size=args.image_size,
        seed=args.seed,
        progress=not args.no_progress,
    )
    summary = {
        "output": str(output),
        "num_images": manifest["num_images"],
        "num_identities": manifest["num_identities"],
        "splits": {
            k: {"images": v["num_images"], "identities": v["num_identities"]}
            for k, v in manifest["splits"].items()
        },
        "skipped": len(manifest["skipped"]),
        "seconds": manifest["seconds"],
    }
    print(json.dumps(summary, indent=1))
    return 0
