"""``embedding-net compare IMG1 IMG2 --model M``: similarity (or distance) and same/different.

Seeds 000 and 004: "output a similarity score between the two images", "cosine similarity
thresholded at 0.6". Examples::

    embedding-net compare a.jpg b.jpg --model runs/lfw_small/network.keras
    embedding-net compare a.jpg b.jpg --model runs/mars_small/best.keras --threshold 0.5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_THRESHOLDS = {"cosine": 0.5, "euclidean": 1.0, "siamese": 0.5}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="score two images: similarity or distance, and same/different at a threshold",
        description=(
            "Embed two images and print their score and the decision at a threshold. An "
            "embedding network scores pairs by cosine similarity (--metric cosine, same when "
            ">= threshold) or euclidean distance (--metric euclidean, same when <= "
            "threshold). A SiameseModel (best.keras of a siamese run) uses its own score: the "
            "merge head's match probability or the distance head's similarity. Without "
            "--threshold, the threshold chosen on held-out folds by `embedding-net train` "
            "(metrics.json next to the model, verification runs) is used, else 0.5 for "
            "similarities and 1.0 for euclidean distances."
        ),
    )
    parser.add_argument("image1")
    parser.add_argument("image2")
    parser.add_argument("--model", required=True, help=".keras model")
    parser.add_argument(
        "--metric",
        choices=("cosine", "euclidean"),
        default="cosine",
        help="score of an embedding network (default cosine similarity)",
    )
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _saved_threshold(model_path: Path, metric: str):
    """Threshold (cosine similarity) chosen on folds by a verification training run."""
    metrics_file = model_path.parent / "metrics.json"
    if metric != "cosine" or not metrics_file.is_file():
        return None
    try:
        data = json.loads(metrics_file.read_text())
    except (OSError, ValueError):
        return None
    if data.get("protocol") == "verification":
        value = data.get("metrics", {}).get("threshold")
        return float(value) if value is not None else None
    return None


def run(args) -> int:
    import numpy as np

    from embedding_net.cli._loading import (
        embedding_network,
        encode,
        image_size_of,
        load_image_files,
        load_model,
    )

    model = load_model(args.model)
    network = embedding_network(model)
    images = load_image_files([args.image1, args.image2], image_size_of(network))
    from embedding_net.models import SiameseModel

    if isinstance(model, SiameseModel):
        kind = "siamese"
        score = float(model.predict((images[:1], images[1:]), verbose=0)[0])
        higher_is_same = True
        threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLDS[kind]
        name = "match probability" if model.head == "merge" else "similarity"
    else:
        kind = args.metric
        e = encode(network, images)
        if kind == "cosine":
            a, b = e[0] / np.linalg.norm(e[0]), e[1] / np.linalg.norm(e[1])
            score = float(np.dot(a, b))
            higher_is_same, name = True, "cosine similarity"
        else:
            score = float(np.linalg.norm(e[0] - e[1]))
            higher_is_same, name = False, "euclidean distance"
        threshold = args.threshold
        if threshold is None:
            threshold = _saved_threshold(Path(args.model), kind)
        if threshold is None:
            threshold = DEFAULT_THRESHOLDS[kind]
    same = score >= threshold if higher_is_same else score <= threshold
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
