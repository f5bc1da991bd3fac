"""The files of a TFRecord folder: ``manifest.json``, shard and index names."""

from __future__ import annotations

import json
import os
from pathlib import Path

MANIFEST = "manifest.json"


def read_manifest(directory: str | os.PathLike) -> dict:
    """Load ``directory/manifest.json`` (FileNotFoundError naming the path when absent)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: write the TFRecords with write_tfrecords first"
        )
    with open(path) as f:
        return json.load(f)


def write_manifest(directory: Path, manifest: dict) -> dict:
    """Write ``manifest`` to ``directory/manifest.json``; returns it."""
    with open(Path(directory) / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def existing_outputs(output_dir: Path) -> list[Path]:
    """The manifest, shards and index files already in ``output_dir`` (sorted; [] if none)."""
    if not output_dir.exists():
        return []
    return sorted(
        [
            p
            for p in output_dir.iterdir()
            if p.name == MANIFEST or p.suffix == ".tfrecord" or p.name.endswith("-index.npz")
        ]
    )
