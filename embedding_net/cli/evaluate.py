"""``embedding-net evaluate --protocol reid|verification|classification|retrieval``: metrics.

Either on the held-out split of a training config (the same images ``train`` validated on)::

    embedding-net evaluate --model runs/cuhk03/network.keras --config examples/mars/full.yaml

or on a folder, every image of which is evaluation data::

    embedding-net evaluate --model network.keras --protocol reid --data query_gallery/ --layout market
    embedding-net evaluate --model network.keras --protocol verification \\
        --data ../shared/data/sample/faces_lfw --layout lfw \\
        --pairs ../shared/data/sample/faces_lfw/pairs_sample.txt --flip
    embedding-net evaluate --model network.keras --protocol classification \\
        --data ../shared/data/sample/traffic_signs_gtsrb --layout gtsrb
"""

from __future__ import annotations

import argparse
import json

from embedding_net.cli._loading import LAYOUTS
from embedding_net.evaluation.protocols import PROTOCOLS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="re-id (CMC/mAP), verification (LFW folds) or kNN classification metrics",
        description=(
            "Evaluate a model's embeddings. reid: one query per identity and camera, the rest "
            "is the gallery (same identity + same camera removed), Rank-k, mAP, mINP. "
            "verification: cosine similarity of pairs (--pairs LFW pairs file, or pairs drawn "
            "from the people of --data), 10-fold accuracy with held-out thresholds, AUC, EER, "
            "F1; the threshold is a cosine similarity (same when score >= threshold), the one "
            "`compare` reads from metrics.json. classification: kNN top-1/top-5 of val/ images "
            "against train/ images (a folder with train/ and val/), of --data against "
            "--gallery, or leave-one-out; retrieval: precision@1, R-precision, MAP@R, recall@k "
            "of the same query / reference images. "
            "With --config, the held-out split of that training config is used."
        ),
    )
    parser.add_argument("--model", required=True, help=".keras model or preset directory")
    parser.add_argument(
        "--protocol", choices=PROTOCOLS.names(), help="default: the config's protocol"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="evaluate on the held-out split of this config")
    source.add_argument("--data", help="evaluate on every image of this folder")
    parser.add_argument("--layout", choices=LAYOUTS, default="folders", help="layout of --data")
    parser.add_argument("--pairs", help="LFW-format pairs file (verification with --data)")
    parser.add_argument("--gallery", help="reference folder (classification with --data)")
    parser.add_argument("--num-pairs", type=int, default=600, help="pairs drawn (verification)")
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="flip test-time augmentation (default: the config's validation.flip, else off)",
    )
    parser.add_argument(
        "--rerank",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "reid: k-reciprocal re-ranking of the distances (Zhong et al. 2017; default: the "
            "config's validation.rerank, else off)"
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="query/pair choice seed")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        metavar="K",
        help=(
            "evaluate K seeded query / pair draws (seeds --seed, +1, ...; with --config the "
            "split seed, +1, ... on the same held-out split) and report mean +- sd"
        ),
    )
    parser.add_argument("--batch-size", type=int, default=128, help="images per forward pass")
    parser.add_argument("--output", help="also write the metrics to this JSON file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    return parser


def _from_config(args, size, repeat: int = 0):
    from embedding_net.cli import UsageError
    from embedding_net.config import load_config
    from embedding_net.config.records import list_records, split_records, split_seed
    from embedding_net.evaluation.protocols import build_validation_set

    config = load_config(args.config)
    if args.protocol:
        config.validation.protocol = args.protocol
    if config.validation.protocol == "none":
        raise UsageError(f"{args.config} sets no validation.protocol: pass --protocol")
    if tuple(config.data.image_size) != tuple(size):
        config.data.image_size = list(size)
    if config.data.val_fraction == 0:
        raise UsageError(
            f"{args.config} is in final-training mode (data.val_fraction 0): nothing is held "
            "out; evaluate on a folder with --data"
        )
    records, triplets = list_records(config.data)
    seed = split_seed(config)
    split = split_records(records, triplets, config.data, seed)
    if args.flip is None:
        args.flip = config.validation.flip
    if args.rerank is None:
        args.rerank = config.validation.rerank
    return [build_validation_set(config, split, seed + i) for i in range(args.repeats)]


def _from_folder(args, size):
    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import list_folder
    from embedding_net.evaluation.protocols import get_protocol

    if args.protocol is None:
        raise UsageError("--protocol is required with --data")
    protocol = get_protocol(args.protocol)
    records = list_folder(args.data, args.layout)
    if protocol.name in ("reid", "verification"):
        return [
            protocol.from_records(
                records,
                size,
                seed=args.seed + i,
                num_pairs=args.num_pairs,
                pairs_file=args.pairs,
                image_root=args.data,
            )
            for i in range(args.repeats)
        ]
    # the classification / retrieval sets have no random draw: one set serves every repeat
    if args.gallery:
        validation = protocol.from_records(
            records, size, reference=list_folder(args.gallery, args.layout)
        )
        return [validation] * args.repeats
    splits = {r.metadata.get("split") for r in records}
    if {"train", "val"} <= splits:
        query = [r for r in records if r.metadata.get("split") == "val"]
        reference = [r for r in records if r.metadata.get("split") == "train"]
        return [protocol.from_records(query, size, reference=reference)] * args.repeats
    return [protocol.from_records(records, size)] * args.repeats


def _evaluate_draws(network, validations, args) -> list:
    """Metrics of each query / pair draw; the draws of one image set are encoded once."""
    from embedding_net.evaluation.protocols import evaluate_protocol, get_protocol

    encoded: dict = {}
    runs = []
    for validation in validations:
        paths = tuple(validation.paths)
        key = (paths, validation.images.shape) if paths else id(validation.images)
        if key not in encoded:
            encoded[key] = get_protocol(validation.protocol).encode(
                network, validation, args.batch_size, args.flip
            )
        runs.append(
            evaluate_protocol(None, validation, rerank=args.rerank, embeddings=encoded[key])
        )
    return runs


def run(args) -> int:
    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import (
        check_output,
        embedding_network,
        image_size_of,
        load_model,
    )

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    output = check_output(args.output, args.overwrite) if args.output else None
    network = embedding_network(load_model(args.model))
    size = image_size_of(network)
    validations = _from_config(args, size) if args.config else _from_folder(args, size)
    args.flip, args.rerank = bool(args.flip), bool(args.rerank)
    protocol = validations[0].protocol
    if args.rerank and protocol != "reid":
        raise UsageError(f"--rerank applies to --protocol reid, not {protocol}")
    runs = _evaluate_draws(network, validations, args)
    result = {
        "protocol": protocol,
        "model": args.model,
        "flip": args.flip,
        "rerank": args.rerank,
        **runs[0],
    }
    if args.repeats > 1:
        from embedding_net.evaluation.repeats import summarize_repeats

        result = {**result, "repeats": args.repeats, "summary": summarize_repeats(runs)}
    text = json.dumps(result, indent=1)
    print(text)
    if output is not None:
        from embedding_net.atomic import write_text_atomic

        write_text_atomic(output, text + "\n")
    return 0
