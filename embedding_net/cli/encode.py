"""``embedding-net encode``: embed every image of a folder into an index file.

Examples::

    embedding-net encode ../shared/data/sample/traffic_signs_gtsrb --layout gtsrb \\
        --model runs/traffic_signs_small/network.keras --output gallery.npz
    embedding-net encode photos/ --model network.keras --output photos.npz --distance cosine
"""

from __future__ import annotations

import argparse
import json

from embedding_net.cli._distance import add_distance_argument, distance_from_args
from embedding_net.cli._loading import LAYOUTS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "encode",
        help="embed a folder of images into an index file (EmbeddingIndex .npz)",
        description=(
            "Embed every image of FOLDER with the model's embedding network and save an "
            "EmbeddingIndex (.npz: embeddings, labels, paths, metadata; no pickle) for "
            "`embedding-net search`. Labels come from the layout: class folder names "
            "(folders, gtsrb, lfw) or person ids (cuhk03, market, duke, mars)."
        ),
    )
    parser.add_argument("folder", help="image folder")
    parser.add_argument(
        "--model", required=True, help=".keras model (e.g. network.keras) or preset directory"
    )
    parser.add_argument("--output", required=True, help="index file to write (.npz)")
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="folders", help="how labels are read (default folders)"
    )
    add_distance_argument(
        parser,
        "euclidean",
        "distance the index searches with: L2 / euclidean, squared-L2, angular (1 - cos), "
        "cosine (cosine similarity) or dot; `serve --threshold` is in its units",
    )
    parser.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    return parser


def run(args) -> int:
    import sys

    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import (
        check_output,
        embedding_network,
        image_size_of,
        list_folder,
        load_model,
    )
    from embedding_net.evaluation.indexing import build_index_from_records
    from embedding_net.evaluation.scores import score_kind

    distance = distance_from_args(args, "encode")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    output = check_output(args.output, args.overwrite)
    records = list_folder(args.folder, args.layout)
    network = embedding_network(load_model(args.model))
    if score_kind(distance) == "cosine":
        print(
            "embedding-net encode: note: --distance cosine is the cosine similarity (serve "
            "--threshold: same when similarity >= t); indexes written before this version "
            "with cosine used 1 - cos, now --distance angular",
            file=sys.stderr,
        )
    try:
        index, kept = build_index_from_records(
            network, records, image_size_of(network), args.batch_size, distance, flip=args.flip
        )
    except ValueError:
        raise UsageError(f"{args.folder}: no readable image") from None
    index.save(output)
    summary = {
        "output": str(output),
        "images": len(kept),
        "skipped_unreadable": len(records) - len(kept),
        "labels": len({str(r.label) for r in kept}),
        "dim": int(index.dim),
        "distance": distance,
    }
    print(json.dumps(summary, indent=1))
    return 0
