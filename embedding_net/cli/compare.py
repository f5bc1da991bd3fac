"""``embedding-net compare IMG1 IMG2 --model M``: the pair's score and same/different.

Examples::

    embedding-net compare a.jpg b.jpg --model runs/lfw_small/network.keras
    embedding-net compare a.jpg b.jpg --model runs/mars_small/best.keras --threshold 0.5
    embedding-net compare a.jpg b.jpg --model network.keras --distance L2 --threshold 1.0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from embedding_net.cli._distance import (
    THRESHOLD_CONVENTION,
    add_distance_argument,
    distance_from_args,
)

# default thresholds by score kind (in the units of the score)
DEFAULT_THRESHOLDS = {"cosine": 0.5, "L2": 1.0, "squared-L2": 1.0, "angular": 0.5, "siamese": 0.5}
SCORE_NAMES = {
    "cosine": "cosine similarity",
    "L2": "euclidean distance",
    "squared-L2": "squared euclidean distance",
    "angular": "angular distance",
    "dot": "dot product",
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="score two images: similarity or distance, and same/different at a threshold",
        description=(
            "Embed two images and print their score and the decision at a threshold. An "
            "embedding network scores pairs with --distance: cosine (cosine similarity, the "
            "default), L2 / euclidean, squared-L2, angular (1 - cos) or dot. "
            f"{THRESHOLD_CONVENTION} A SiameseModel (best.keras of a siamese run) uses its own "
            "score: the merge head's match probability or the distance head's similarity "
            "(same when >= threshold). Without --threshold, the threshold chosen on held-out "
            "folds by `embedding-net train` (metrics.json next to the model, verification runs; "
            "a cosine similarity) is used with --distance cosine, else 0.5 for cosine, "
            "angular and siamese scores and 1.0 for L2 distances."
        ),
    )
    parser.add_argument("image1")
    parser.add_argument("image2")
    parser.add_argument("--model", required=True, help=".keras model or preset directory")
    add_distance_argument(parser, "cosine", "score of an embedding network")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="decision threshold, in the units of the score (same: distance <= t, similarity >= t)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _saved_threshold(model_path: Path, distance: str):
    """Threshold chosen on folds by a verification training run, when in ``distance`` units."""
    from embedding_net.evaluation.protocols import get_protocol
    from embedding_net.evaluation.scores import score_kind

    metrics_file = model_path.parent / "metrics.json"
    protocol = get_protocol("verification")
    if score_kind(distance) != score_kind(protocol.distance) or not metrics_file.is_file():
        return None
    try:
        data = json.loads(metrics_file.read_text())
    except json.JSONDecodeError as error:
        from embedding_net.cli import UsageError

        raise UsageError(
            f"{metrics_file} is not valid JSON (line {error.lineno}: {error.msg}): truncated "
            "or damaged; pass --threshold, or train the run again"
        ) from None
    except (OSError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("protocol") == protocol.name:
        value = data.get("metrics", {}).get("threshold")
        return float(value) if value is not None else None
    return None


def _embedding_score(args, network, images, distance):
    """``(score, name, threshold)`` of an embedding network's pair (score in ``distance`` units)."""
    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import encode
    from embedding_net.evaluation.scores import pair_scores, score_kind

    e = encode(network, images)
    score = float(pair_scores(e[:1], e[1:], distance)[0])
    kind = score_kind(distance)
    name = SCORE_NAMES.get(kind, f"{distance} score")
    threshold = args.threshold
    if threshold is None:
        threshold = _saved_threshold(Path(args.model), distance)
    if threshold is None:
        if kind not in DEFAULT_THRESHOLDS:
            raise UsageError(f"--distance {distance} has no default threshold: pass --threshold")
        threshold = DEFAULT_THRESHOLDS[kind]
    return score, name, threshold


def run(args) -> int:
    from embedding_net.cli._loading import (
        embedding_network,
        image_size_of,
        load_image_files,
        load_model,
    )
    from embedding_net.evaluation.scores import is_match, is_similarity
    from embedding_net.models import SiameseModel

    distance = distance_from_args(args, "compare")
    model = load_model(args.model)
    network = embedding_network(model)
    images = load_image_files([args.image1, args.image2], image_size_of(network))
    if isinstance(model, SiameseModel):  # a similarity of its own: same when >= threshold
        score = float(model.predict((images[:1], images[1:]), verbose=0)[0])
        higher_is_same = True
        threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLDS["siamese"]
        name = "match probability" if model.head == "merge" else "similarity"
        same = score >= threshold
    else:
        score, name, threshold = _embedding_score(args, network, images, distance)
        higher_is_same = is_similarity(distance)
        same = is_match(score, threshold, distance)  # the package's threshold convention
    result = {
        "image1": args.image1,
        "image2": args.image2,
        "score": score,
        "score_name": name,
        "threshold": float(threshold),
        "same": bool(same),
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        verdict = "same" if same else "different"
        op = (">=" if same else "<") if higher_is_same else ("<=" if same else ">")
        print(f"{name}: {score:.4f} ({op} threshold {threshold:.4f}) -> {verdict}")
    return 0
