"""The ``embedding-net`` command line.

Each subcommand lives in its own module of this package and exposes two functions:
``add_parser(subparsers)`` (registers the subcommand with its ``--help``) and ``run(args)``
(returns the process exit code). The CLI stays thin: parse, call the library, print.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand modules, in the order they are listed by --help
SUBCOMMAND_MODULES = [
    "embedding_net.cli.demo",
    "embedding_net.cli.tfrecord",
    "embedding_net.cli.train",
    "embedding_net.cli.encode",
    "embedding_net.cli.compare",
    "embedding_net.cli.search",
    "embedding_net.cli.evaluate",
    "embedding_net.cli.visualize",
    "embedding_net.cli.export",
    "embedding_net.cli.serve",
]


class UsageError(Exception):
    """Raised by a subcommand for bad user input; reported with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from embedding_net import __version__

    parser = argparse.ArgumentParser(
        prog="embedding-net",
        description="Metric learning for Keras 3: train, evaluate and search embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"embedding-net {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        module = importlib.import_module(module_name)
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"embedding-net {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"embedding-net {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
