"""``embedding-net demo``: train on scikit-learn's digits and show before/after metrics."""

from __future__ import annotations

import time
from pathlib import Path

from embedding_net.cli import UsageError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="train a small network on bundled digits (no download) and write pictures",
        description=(
            "Train a small embedding network on scikit-learn's bundled digits (CPU, about a "
            "minute), print kNN top-1 and recall@1 on held-out digits before and after "
            "training, and write a t-SNE picture and a retrieval grid."
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="output folder (default: embedding_net_demo/run-<timestamp>); must be empty "
        "unless --overwrite",
    )
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --output")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def run(args) -> int:
    from embedding_net.demo import run_demo

    output = args.output or Path("embedding_net_demo") / time.strftime("run-%Y%m%d-%H%M%S")
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise UsageError(
            f"output folder {output} is not empty; pass --overwrite or another --output"
        )
    if args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
    result = run_demo(output, epochs=args.epochs, seed=args.seed)
    print(f"\n{'held-out digits':<24}{'before':>10}{'after':>10}")
    for key, name in (("knn_top1", "kNN top-1 accuracy"), ("recall_at_1", "recall@1")):
        print(f"{name:<24}{result.before[key]:>10.3f}{result.after[key]:>10.3f}")
    print(f"training took {result.train_seconds:.1f} s")
    print(f"wrote {len(result.files)} files to {result.output_dir}/:")
    for f in result.files:
        print(f"  {f}")
    return 0
