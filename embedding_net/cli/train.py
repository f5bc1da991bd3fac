"""``embedding-net train --config X.yaml``: train the model a YAML config describes.

Examples::

    embedding-net train --config examples/traffic_signs/small.yaml
    embedding-net train --config examples/mars/small_contrastive.yaml --set training.epochs=1
    embedding-net train --config run.yaml --resume          # continue after an interruption
    embedding-net train --config run.yaml --repeats 3       # 3 seeded splits: mean +- sd
    embedding-net train --config run.yaml --final           # every image trains, no hold-out
"""

from __future__ import annotations

import argparse
import json

from embedding_net.cli import UsageError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train from a YAML config (logs, checkpoints, best model, resume)",
        description=(
            "Train the model described by a YAML config (see docs/config.md). The output "
            "folder receives config.yaml, TensorBoard logs (logs/), an epoch backup "
            "(backup/, for --resume), best.keras (best by the validation metric), final.keras, "
            "network.keras (the embedding network used by encode/search/compare/evaluate), "
            "history.csv and metrics.json. A non-empty output folder is refused unless "
            "--resume or --overwrite is given."
        ),
    )
    parser.add_argument("--config", required=True, help="the YAML config file")
    parser.add_argument("--output-dir", help="override output_dir of the config")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--resume", action="store_true", help="continue the run in the output folder"
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier run in the output folder",
    )
    parser.add_argument(
        "--final",
        action="store_true",
        help=(
            "final-training mode: train on every image of the training split (sets "
            "data.val_fraction=0; no validation metrics); output_dir gets a _final suffix "
            "unless --output-dir is given"
        ),
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        metavar="K",
        help=(
            "train on K seeded hold-out splits (data.split_seed, +1, ...) into "
            "output_dir/split-<seed>/ and write their mean +- sd to output_dir/repeats.json"
        ),
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set training.epochs=2 (VALUE is YAML); repeatable",
    )
    return parser


def parse_overrides(items: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}`` (values read as YAML)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. training.epochs=2")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {item!r}: VALUE is not valid YAML: {exc}") from None
    return out


def run(args) -> int:
    from embedding_net.config import load_config

    overrides = parse_overrides(args.set)
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    if args.final and args.repeats > 1:
        raise UsageError("--final trains once on every image: it cannot be --repeats'ed")
    if args.final:
        overrides["data.val_fraction"] = 0
    config = load_config(args.config, overrides=overrides)
    output_dir = args.output_dir
    if args.final and output_dir is None:
        output_dir = config.output_dir.rstrip("/\\") + "_final"
    if args.repeats > 1:
        return _run_repeats(args, config, output_dir)
    from embedding_net.training import SaveError, train

    try:
        result = train(config, output_dir=output_dir, resume=args.resume, overwrite=args.overwrite)
    except (FileExistsError, SaveError) as exc:
        raise UsageError(str(exc)) from None
    summary = {
        "output_dir": str(result.output_dir),
        "best_model": str(result.best_model),
        "network": str(result.network),
        "epochs_run": result.epochs_run,
        "fit_seconds": round(result.seconds, 1),
        "metrics": result.metrics,
    }
    print(json.dumps(summary, indent=1))
    return 0


def _run_repeats(args, config, output_dir) -> int:
    from embedding_net.training import SaveError, train_repeats

    try:
        result = train_repeats(
            config,
            args.repeats,
            output_dir=output_dir,
            resume=args.resume,
            overwrite=args.overwrite,
        )
    except (FileExistsError, SaveError) as exc:
        raise UsageError(str(exc)) from None
    summary = {
        "output_dir": str(result.output_dir),
        "split_seeds": result.seeds,
        "summary": {k: {"mean": v["mean"], "sd": v["sd"]} for k, v in result.summary.items()},
    }
    print(json.dumps(summary, indent=1))
    return 0
