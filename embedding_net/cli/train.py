"""``embedding-net train --config X.yaml``: train the model a YAML config describes.

Examples::

    embedding-net train --config examples/traffic_signs/small.yaml
    embedding-net train --config examples/mars/small_contrastive.yaml --set training.epochs=1
    embedding-net train --config run.yaml --resume          # continue after an interruption
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
    config = load_config(args.config, overrides=overrides)
    from embedding_net.training import SaveError, train

    try:
        result = train(
            config, output_dir=args.output_dir, resume=args.resume, overwrite=args.overwrite
        )
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
