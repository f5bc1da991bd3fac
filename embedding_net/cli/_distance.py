"""The ``--distance`` option of the inference subcommands and the threshold convention.

Every subcommand that scores embeddings takes ``--distance`` with the names of
:mod:`embedding_net.distances` (``L2`` alias ``euclidean``, ``squared-L2``, ``angular``,
``cosine``, ``dot``; case-insensitive, ``-`` and ``_`` alike); ``--metric`` is a deprecated
alias that prints a warning.
"""

from __future__ import annotations

import sys

THRESHOLD_CONVENTION = (
    "A threshold is in the units of the score: same when score <= threshold for a distance "
    "(L2 alias euclidean, squared-L2, angular = 1 - cos), score >= threshold for a similarity "
    "(cosine, dot)."
)


def add_distance_argument(parser, default: str, help_text: str) -> None:
    """``--distance`` (one of the distance names of embedding_net.distances) and its
    deprecated alias ``--metric``."""
    parser.add_argument("--distance", default=None, help=f"{help_text} (default {default})")
    parser.add_argument("--metric", default=None, help="deprecated alias of --distance")
    parser.set_defaults(distance_default=default)


def distance_from_args(args, command: str) -> str:
    """The ``--distance`` value (``--metric`` with a deprecation warning), checked by name."""
    from embedding_net.cli import UsageError
    from embedding_net.evaluation.scores import resolve_distance

    distance = args.distance
    if args.metric is not None:
        print(
            f"embedding-net {command}: warning: --metric is deprecated, use --distance",
            file=sys.stderr,
        )
        if distance is not None and distance != args.metric:
            raise UsageError("--metric and --distance disagree: pass --distance only")
        distance = args.metric
    distance = distance or args.distance_default
    try:
        resolve_distance(distance)
    except ValueError as exc:
        raise UsageError(f"--distance: {exc}") from None
    return distance
