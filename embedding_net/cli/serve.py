"""``embedding-net serve``: the search-by-image web page over a model and an index."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path

from embedding_net.cli import UsageError

logger = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "serve",
        help="web page to search an index by image, compare two images, browse the t-SNE map",
        description=(
            "Serve a local web page (FastAPI + uvicorn, pip install 'embedding-net[app]') where "
            "you drop in a query image and see its top-k matches in the index, compare two "
            "images at the match threshold, and browse the index's t-SNE map. The model "
            "(Keras safe mode) and the index load once at start-up; JSON endpoints under /api/ "
            "serve scripts. Binds 127.0.0.1 unless --host says otherwise."
        ),
    )
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="the .keras embedding network or its preset directory",
    )
    parser.add_argument(
        "--index", type=Path, required=True, help="index file written by `embedding-net encode`"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--top-k", type=int, default=5, help="results shown by default (5)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="match threshold in the units of the index's distance (`encode --distance`): same "
        "when distance <= t for an L2 / squared-L2 / angular index, similarity >= t for a "
        "cosine / dot index (indexes written with 'cosine' before format 2 load as angular, so "
        "their thresholds keep their meaning); default: estimated from the index labels",
    )
    parser.add_argument(
        "--max-upload-mb", type=float, default=10.0, help="largest accepted upload (default 10 MB)"
    )
    parser.add_argument(
        "--max-megapixels",
        type=float,
        default=40.0,
        help="largest accepted image, width x height in millions (default 40)",
    )
    parser.add_argument(
        "--max-uploads",
        type=int,
        default=8,
        help="uploads received or processed at once; more are answered 503 (default 8)",
    )
    parser.add_argument(
        "--image-root",
        type=Path,
        default=None,
        help="folder holding the indexed images: paths are shown relative to it and "
        "thumbnails are read only from files under it (without it no path is shown)",
    )
    parser.add_argument(
        "--class-names",
        type=Path,
        default=None,
        help="CSV with a header and rows 'label,name' (e.g. GTSRB's class_names.csv): names "
        "shown next to the labels",
    )
    parser.add_argument(
        "--map-points",
        type=int,
        default=2000,
        help="the t-SNE map shows at most this many items (seeded subset; default 2000)",
    )
    parser.add_argument(
        "--no-map-precompute",
        action="store_true",
        help="compute the t-SNE map on first opening instead of in the background at start-up",
    )
    return parser


def _check_args(args) -> None:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    for name in ("top_k", "map_points", "max_uploads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("max_upload_mb", "max_megapixels"):
        if not getattr(args, name) > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    if args.image_root is not None and not args.image_root.is_dir():
        raise UsageError(f"--image-root {args.image_root} is not a folder")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    _check_args(args)
    from embedding_net.app.server import require_app_extra

    try:
        require_app_extra()
    except ImportError as exc:
        print(f"embedding-net serve: error: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    from embedding_net.app.server import build_app, server_config
    from embedding_net.app.service import SearchService, read_class_names

    class_names = None if args.class_names is None else read_class_names(args.class_names)
    try:
        service = SearchService.from_files(
            args.model,
            args.index,
            threshold=args.threshold,
            top_k=args.top_k,
            max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
            max_pixels=int(args.max_megapixels * 1_000_000),
            image_root=args.image_root,
            max_map_points=args.map_points,
            class_names=class_names,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.no_map_precompute:
        service.start_map_precompute()
    app = build_app(service, max_uploads=args.max_uploads)
    if not _is_loopback(args.host):
        logger.warning(
            "binding %s: the page is reachable from other machines (no authentication)",
            args.host,
        )
    threshold = "none" if service.threshold is None else f"{service.threshold:.4g}"
    if service.threshold is not None:
        op = ">=" if service.higher_is_closer else "<="
        threshold += f", same when {service.distance_name} {op} threshold"
    print(
        f"serving {len(service.index)} items ({service.embedding_dim}-d, "
        f"{service.distance_name}, threshold {threshold}) at http://{args.host}:{args.port}/  "
        "(Ctrl+C to stop)",
        flush=True,
    )
    uvicorn.Server(server_config(app, host=args.host, port=args.port)).run()
    return 0
