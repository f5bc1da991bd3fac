"""``embedding-net visualize``: t-SNE of a folder's embeddings, interactive HTML or PNG.

Interactive t-SNE of a folder's embeddings (hover a point to see its image). Examples::

    embedding-net visualize ../shared/data/sample/traffic_signs_gtsrb --layout gtsrb \\
        --model runs/traffic_signs_small/network.keras --output tsne.html
    embedding-net visualize photos/ --model network.keras --output tsne.png
"""

from __future__ import annotations

import argparse
import json

from embedding_net.cli._loading import LAYOUTS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "visualize",
        help="t-SNE picture of a folder's embeddings (.html interactive, .png static)",
        description=(
            "Embed the images of FOLDER and draw their t-SNE projection, one colour per "
            "label. An --output ending in .html is an interactive page (needs plotly: pip "
            "install embedding-net[viz]) whose points show their image on hover; .png/.svg/"
            ".pdf is a static picture."
        ),
    )
    parser.add_argument("folder", help="image folder")
    parser.add_argument("--model", required=True, help=".keras model or preset directory")
    parser.add_argument("--output", required=True, help="tsne.html, tsne.png, .svg or .pdf")
    parser.add_argument("--layout", choices=LAYOUTS, default="folders", help="how labels are read")
    parser.add_argument(
        "--max-images", type=int, default=2000, help="seeded subset of at most N images (2000)"
    )
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    parser.add_argument(
        "--method",
        choices=("auto", "sklearn", "opentsne", "umap"),
        default="auto",
        help="projection: t-SNE by openTSNE when installed else scikit-learn (auto), one of "
        "them, or UMAP (pip install embedding-net[umap])",
    )
    parser.add_argument("--seed", type=int, default=0, help="subset and t-SNE seed")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    return parser


def run(args) -> int:
    from pathlib import Path

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
    from embedding_net.evaluation.validation_sets import load_record_images

    suffix = Path(args.output).suffix.lower()
    if suffix not in (".html", ".png", ".svg", ".pdf"):
        raise UsageError(f"--output {args.output}: expected .html, .png, .svg or .pdf")
    if args.max_images < 2:
        raise UsageError(f"--max-images must be >= 2, got {args.max_images}")
    output = check_output(args.output, args.overwrite)
    records = list_folder(args.folder, args.layout)
    if len(records) > args.max_images:
        rng = np.random.default_rng(args.seed)
        keep = sorted(rng.choice(len(records), args.max_images, replace=False))
        records = [records[i] for i in keep]
    network = embedding_network(load_model(args.model))
    images, kept = load_record_images(records, image_size_of(network))
    if len(kept) < 2:
        raise UsageError(f"{args.folder}: fewer than 2 readable images")
    records = [records[i] for i in kept]
    embeddings = encode(network, images)
    labels = np.asarray([str(r.label) for r in records])
    perplexity = min(args.perplexity, max(1.0, (len(records) - 1) / 3.0))
    points_2d = _project(embeddings, args.method, perplexity, args.seed)
    name = "UMAP" if args.method == "umap" else "t-SNE"
    title = f"{name} of {len(records)} embeddings ({Path(args.folder).name})"
    if suffix == ".html":
        from embedding_net.visualization import plot_tsne_interactive

        plot_tsne_interactive(
            embeddings,
            labels,
            images=images,
            paths=[r.path for r in records],
            path=output,
            points_2d=points_2d,
            title=title,
        )
    else:
        from embedding_net.visualization import plot_tsne

        plot_tsne(embeddings, labels, path=output, points_2d=points_2d, title=title)
    print(json.dumps({"output": str(output), "images": len(records), "labels": len(set(labels))}))
    return 0


def _project(embeddings, method: str, perplexity: float, seed: int):
    """The (N, 2) map of ``--method``; a missing optional library is a usage error."""
    from embedding_net.cli import UsageError
    from embedding_net.visualization import tsne_embed, umap_embed

    try:
        if method == "umap":
            if len(embeddings) < 3:
                raise UsageError("--method umap needs at least 3 readable images")
            return umap_embed(embeddings, seed=seed)
        return tsne_embed(embeddings, perplexity=perplexity, seed=seed, method=method)
    except ImportError as error:
        raise UsageError(f"--method {method}: {error}") from None
