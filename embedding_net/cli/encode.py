"""``embedding-net encode``: embed every image of a folder into an index file.

Examples::

    embedding-net encode ../shared/data/sample/traffic_signs_gtsrb --layout gtsrb \\
        --model runs/traffic_signs_small/network.keras --output gallery.npz
    embedding-net encode photos/ --model network.keras --output photos.npz --distance cosine
"""

from __future__ import annotations

import argparse
import json

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
    parser.add_argument("--model", required=True, help=".keras model (e.g. network.keras)")
    parser.add_argument("--output", required=True, help="index file to write (.npz)")
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="folders", help="how labels are read (default folders)"
    )
    parser.add_argument(
        "--distance",
        choices=("euclidean", "cosine"),
        default="euclidean",
        help="distance the index searches with (default euclidean)",
    )
    parser.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    return parser


def run(args) -> int:
    import numpy as np

    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import (
        check_output,
        embedding_network,
        encode,
        image_size_of,
        list_folder,
        load_model,
    )
    from embedding_net.config.validation import load_record_images
    from embedding_net.evaluation import EmbeddingIndex

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    output = check_output(args.output, args.overwrite)
    records = list_folder(args.folder, args.layout)
    network = embedding_network(load_model(args.model))
    size = image_size_of(network)
    images, kept = load_record_images(records, size)
    skipped = len(records) - len(kept)
    if len(kept) == 0:
        raise UsageError(f"{args.folder}: no readable image")
    records = [records[i] for i in kept]
    embeddings = encode(network, images, args.batch_size, args.flip)
    index = EmbeddingIndex(distance=args.distance)
    index.add(
        embeddings,
        labels=np.asarray([str(r.label) for r in records]),
        paths=[r.path for r in records],
        metadata=[dict(r.metadata) for r in records],
    )
    index.save(output)
    summary = {
        "output": str(output),
        "images": len(records),
        "skipped_unreadable": skipped,
        "labels": len({str(r.label) for r in records}),
        "dim": int(embeddings.shape[1]),
        "distance": args.distance,
    }
    print(json.dumps(summary, indent=1))
    return 0
