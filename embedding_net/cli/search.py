"""``embedding-net search IMG --index I --model M -k 5``: nearest matches of an image.

Embed a query, compare it with the pre-computed database (an index written
by ``embedding-net encode``), show the closest matches, optionally as a picture. Example::

    embedding-net search query.png --index gallery.npz --model network.keras -k 5 --grid top5.png
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "search",
        help="nearest matches of an image in an index (optional picture grid)",
        description=(
            "Embed IMAGE with the model, search the index written by `embedding-net encode` "
            "and print the k nearest items (rank, score, label, path) and the predicted "
            "label (majority of the k labels, ties to the nearest). --grid writes a picture: "
            "the query and its matches, framed green when a match has the query's label "
            "(--query-label, or the predicted label when not given) and red otherwise. The "
            "score is in the units of the index's distance (`encode --distance`): a distance "
            "(L2, squared-L2, angular; JSON key distance) or a similarity (cosine, dot; JSON "
            "key similarity)."
        ),
    )
    parser.add_argument("image", help="query image")
    parser.add_argument("--index", required=True, help="index file from `embedding-net encode`")
    parser.add_argument(
        "--model",
        required=True,
        help=".keras model used to build the index, or its preset directory",
    )
    parser.add_argument("-k", type=int, default=5, help="number of matches (default 5)")
    parser.add_argument("--query-label", help="the query's true label, to judge the matches")
    parser.add_argument("--grid", help="write the query + matches picture here (.png)")
    parser.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --grid")
    parser.add_argument("--json", action="store_true", help="print the matches as JSON")
    return parser


def predicted_label(labels, distances):
    """Majority label of the neighbours; ties go to the label met first (nearest)."""
    counts = Counter(labels)
    best = max(counts.values())
    for label in labels:
        if counts[label] == best:
            return label
    return None  # pragma: no cover


def _write_grid(args, grid, query, size, labels, paths, scores, predicted) -> None:
    """The query and its matches as a picture, framed by whether each has the query's label."""
    import numpy as np

    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import load_image_files

    if not paths:
        raise UsageError(f"--grid needs the image paths, and {args.index} has none")
    from embedding_net.visualization import plot_retrieval

    results = load_image_files(paths, size)
    reference = args.query_label if args.query_label is not None else predicted
    correct = np.asarray([[lab == reference for lab in labels]])
    title = (
        f"query label {reference}"
        if args.query_label is not None
        else f"predicted label {reference} (green: matches with it)"
    )
    plot_retrieval(
        query,
        results[None],
        np.asarray([scores]),
        correct,
        query_labels=[reference],
        result_labels=np.asarray([labels]),
        path=grid,
        title=title,
    )
    print(f"wrote {grid}")


def run(args) -> int:

    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import (
        check_output,
        embedding_network,
        encode,
        image_size_of,
        load_image_files,
        load_model,
    )
    from embedding_net.evaluation import EmbeddingIndex

    if args.k < 1:
        raise UsageError(f"-k must be >= 1, got {args.k}")
    if not Path(args.index).is_file():
        raise UsageError(f"--index {args.index} does not exist")
    grid = check_output(args.grid, args.overwrite, "--grid") if args.grid else None
    index = EmbeddingIndex.load(args.index)
    network = embedding_network(load_model(args.model))
    size = image_size_of(network)
    query = load_image_files([args.image], size)
    embedding = encode(network, query, flip=args.flip)
    if index.dim != embedding.shape[1]:
        raise UsageError(
            f"--index {args.index} holds {index.dim}-d embeddings but the model gives "
            f"{embedding.shape[1]}-d: build the index with the same model"
        )
    result = index.search(embedding, k=args.k)
    labels = [str(x) for x in result.labels[0]] if result.labels is not None else []
    paths = [str(x) for x in result.paths[0]] if result.paths is not None else []
    scores = [float(x) for x in result.scores[0]]
    distances = [float(x) for x in result.distances[0]]
    predicted = predicted_label(labels, distances) if labels else None
    key = "similarity" if result.higher_is_closer else "distance"
    matches = [
        {
            "rank": i + 1,
            key: scores[i],
            "label": labels[i] if labels else None,
            "path": paths[i] if paths else None,
        }
        for i in range(len(scores))
    ]
    if args.json:
        print(
            json.dumps(
                {"query": args.image, "predicted_label": predicted, "matches": matches}, indent=1
            )
        )
    else:
        print(f"query: {args.image}")
        for m in matches:
            print(f"{m['rank']:>3}  {m[key]:.4f}  {m['label']}  {m['path']}")
        if predicted is not None:
            print(f"predicted label: {predicted}")
    if grid is not None:
        _write_grid(args, grid, query, size, labels, paths, scores, predicted)
    return 0
