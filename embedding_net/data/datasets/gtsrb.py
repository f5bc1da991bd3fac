"""GTSRB traffic signs: class folders ``{split}/{class:02d}/{track:05d}_{index:05d}.png`` with track ids."""

from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path

from embedding_net.data.datasets.base import ImageRecord, Listing, require_dir
from embedding_net.data.datasets.folders import list_class_folders

logger = logging.getLogger(__name__)

_GTSRB_NAME = re.compile(r"^(\d+)_(\d+)$")


def _from_labels_csv(root: Path, labels_csv: Path, split: str | None) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    missing = []
    with open(labels_csv, newline="") as f:
        reader = csv.DictReader(f)
        need = {"path", "class_id", "track_id"}
        if not need.issubset(reader.fieldnames or []):
            raise ValueError(
                f"{labels_csv}: expected columns {sorted(need)}, got {reader.fieldnames}"
            )
        for row in reader:
            rel = row["path"]
            row_split = Path(rel).parts[0] if len(Path(rel).parts) > 2 else None
            if split is not None and row_split != split:
                continue
            path = root / rel
            if not path.exists():
                missing.append(str(path))
                continue
            match = _GTSRB_NAME.match(path.stem)
            meta = {"tracklet": int(row["track_id"]), "split": row_split}
            if match:
                meta["index"] = int(match.group(2))
            records.append(ImageRecord(str(path), int(row["class_id"]), meta))
    if missing:
        logger.warning(
            "%s: %d listed file(s) do not exist, skipped: %s",
            labels_csv,
            len(missing),
            ", ".join(missing[:20]),
        )
    return records


def _from_folders(root: Path, split: str | None) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    for rec in list_class_folders(root):
        if split is not None and rec.metadata.get("split") != split:
            continue
        match = _GTSRB_NAME.match(Path(rec.path).stem)
        meta = dict(rec.metadata)
        if match:
            meta["tracklet"] = int(match.group(1))
            meta["index"] = int(match.group(2))
        records.append(ImageRecord(rec.path, int(rec.label), meta))
    return records


def list_gtsrb(root: str | os.PathLike, split: str | None = None) -> list[ImageRecord]:
    """List a GTSRB folder: class folders ``{split}/{class:02d}/{track:05d}_{index:05d}.png``.

    When ``root/labels.csv`` (columns ``path,class_id,track_id``) exists it is used; otherwise
    the class folders are listed and the track id parsed from the file name.

    Args:
        root: the GTSRB folder (holding ``train/`` and optionally ``val/`` and ``labels.csv``).
        split: keep only this split folder (``"train"`` / ``"val"``); ``None`` keeps all.

    Returns:
        list of :class:`ImageRecord`, label = int class id, metadata ``{"tracklet": track,
        "index": index, "split": ...}``.
    """
    root = require_dir(root, "list_gtsrb(root)")
    labels_csv = root / "labels.csv"
    if labels_csv.exists():
        records = _from_labels_csv(root, labels_csv, split)
    else:
        records = _from_folders(root, split)
    if not records:
        raise FileNotFoundError(f"list_gtsrb(root): no image found under {root} (split={split!r})")
    return records


def listing(source: Path, people_file: str | None = None) -> Listing:
    """The ``gtsrb`` layout: :func:`list_gtsrb` of ``source`` (every split)."""
    return Listing(list_gtsrb(source))
