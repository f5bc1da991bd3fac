"""``embedding-net export``: a saved network -> SavedModel (uint8 images in) with a parity check."""

from __future__ import annotations

from pathlib import Path

from embedding_net.cli import UsageError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a saved network for serving (SavedModel or ONNX) with a parity check",
        description=(
            "Export a .keras embedding network to a TensorFlow SavedModel whose 'serve' "
            "endpoint takes uint8 images and returns embeddings (preprocessing inside), or to "
            "ONNX (pip install embedding-net[onnx]). Prints the largest absolute difference "
            "between exported and in-Keras embeddings."
        ),
    )
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="a .keras file (BaseNetwork) or a preset directory",
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="SavedModel folder or .onnx file"
    )
    parser.add_argument("--format", choices=("tf_saved_model", "onnx"), default="tf_saved_model")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="fail (exit 1) when the parity difference exceeds this (default 1e-4)",
    )
    return parser


def run(args) -> int:
    if not (args.model.is_file() or args.model.is_dir()):
        raise UsageError(f"--model {args.model}: no such file or preset directory")
    if args.output.exists() and not args.overwrite:
        raise UsageError(f"--output {args.output} exists; pass --overwrite to replace it")
    from embedding_net.export import export_network
    from embedding_net.saving import load_model

    network = load_model(args.model)
    report = export_network(network, args.output, format=args.format, overwrite=args.overwrite)
    print(f"exported {args.model} -> {report['path']} ({report['format']})")
    print(
        f"parity: max |exported - keras| = {report['max_abs_diff']:.3g} on "
        f"{report['num_check_images']} images"
    )
    return 0 if report["max_abs_diff"] <= args.tolerance else 1
