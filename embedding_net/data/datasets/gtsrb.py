"""GTSRB traffic signs: class folders ``{split}/{class:02d}/{track:05d}_{index:05d}.png`` with track ids."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from embedding_net.data.datasets.base import ImageRecord, Listing, require_dir
from embedding_net.data.datasets.folders import list_class_folders
from embedding_net.data.text_files import ParseError, csv_rows, line_error

logger = logging.getLogger(__name__)

_GTSRB_NAME = re.compile(r"^(\d+)_(\d+)$")


def _non_negative(labels_csv: Path, line: int, value: str, column: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise line_error(labels_csv, line, f"a non-negative integer {column}", value)
    return int(value)


def _label_rows(labels_csv: Path) -> list[tuple[int, str, int, int]]:
    """``(line, path, class id, track id)`` of the rows of a ``path,class_id,track_id`` CSV."""
    header, rows = csv_rows(labels_csv, "list_gtsrb(labels.csv)")
    need = ("path", "class_id", "track_id")
    if not set(need).issubset(header):
        raise ParseError(labels_csv, None, f"expected columns {sorted(need)}, got {header}")
    at = {name: header.index(name) for name in need}
    out = []
    for line, fields in rows:
        rel = fields[at["path"]].strip()
        if not rel:
            raise line_error(labels_csv, line, "an image path in column path", ",".join(fields))
        class_id = _non_negative(labels_csv, line, fields[at["class_id"]], "class_id")
        track_id = _non_negative(labels_csv, line, fields[at["track_id"]], "track_id")
        out.append((line, rel, class_id, track_id))
    return out


def _from_labels_csv(root: Path, labels_csv: Path, split: str | None) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    missing = []
    for _, rel, class_id, track_id in _label_rows(labels_csv):
        row_split = Path(rel).parts[0] if len(Path(rel).parts) > 2 else None
        if split is not None and row_split != split:
            continue
        path = root / rel
        if not os.path.isfile(path):  # False, not OSError, for a name too long
            missing.append(str(path))
            continue
        match = _GTSRB_NAME.match(path.stem)
        meta = {"tracklet": track_id, "split": row_split}
        if match:
            meta["index"] = int(match.group(2))
        records.append(ImageRecord(str(path), class_id, meta))
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

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no image.
        ParseError: (a ValueError) ``labels.csv`` is binary, not UTF-8, lacks a column or has a
            row with an empty path or a class/track id that is not a non-negative integer (file
            and line named).
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
