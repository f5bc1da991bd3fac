"""CSV triplets: rows ``Anchor,Positive,Negative`` of image paths (layout ``triplets_csv``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from embedding_net.data.datasets.base import ImageRecord, Listing
from embedding_net.data.text_files import ParseError, csv_rows, line_error

logger = logging.getLogger(__name__)

_COLUMNS = ("anchor", "positive", "negative")


@dataclass(frozen=True)
class TripletRecords:
    """Rows of a triplets CSV: three aligned lists of paths (``anchors[i], positives[i], negatives[i]``)."""

    anchors: list[str]
    positives: list[str]
    negatives: list[str]

    def __len__(self) -> int:
        return len(self.anchors)


def _triplet_columns(csv_path: Path, header: list[str]) -> list[int]:
    """Positions of the Anchor, Positive and Negative columns (any case) in ``header``."""
    columns = {name.lower(): i for i, name in enumerate(header)}
    if not all(need in columns for need in _COLUMNS):
        raise ParseError(
            csv_path,
            None,
            f"expected columns Anchor,Positive,Negative, got {header}",
        )
    return [columns[need] for need in _COLUMNS]


def read_triplets_csv(
    csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None
) -> TripletRecords:
    """Read a CSV of triplets with columns ``Anchor,Positive,Negative`` (any case).

    Args:
        csv_path: the CSV file (UTF-8; a byte-order mark, CRLF line ends and spaces around the
            fields are accepted).
        image_root: folder the paths are relative to; defaults to the CSV's folder. Absolute paths
            in the CSV are kept.

    Returns:
        :class:`TripletRecords`. Rows naming a file that does not exist are skipped with a
        warning that counts them and names the files.

    Raises:
        FileNotFoundError: the CSV does not exist, or no row is usable.
        ParseError: (a ValueError) a column is missing, the file is binary or not UTF-8, or a
            row has another number of fields than the header or an empty path (file and line
            named).
    """
    csv_path = Path(csv_path)
    root = Path(image_root) if image_root is not None else csv_path.parent
    header, rows = csv_rows(csv_path, "read_triplets_csv(csv_path)")
    positions = _triplet_columns(csv_path, header)
    anchors, positives, negatives, missing = [], [], [], []
    skipped = 0
    for line, fields in rows:
        names = [fields[i].strip() for i in positions]
        for name, column in zip(names, ("Anchor", "Positive", "Negative")):
            if not name:
                raise line_error(
                    csv_path, line, f"an image path in column {column}", ",".join(fields)
                )
        paths = [root / name for name in names]
        absent = [str(p) for p in paths if not os.path.isfile(p)]
        if absent:
            missing.extend(absent)
            skipped += 1
            continue
        anchors.append(str(paths[0]))
        positives.append(str(paths[1]))
        negatives.append(str(paths[2]))
    if missing:
        logger.warning(
            "%s: %d row(s) skipped, files do not exist: %s",
            csv_path,
            skipped,
            ", ".join(sorted(set(missing))[:20]),
        )
    if not anchors:
        raise FileNotFoundError(f"{csv_path}: no usable row (every row names a missing file)")
    return TripletRecords(anchors, positives, negatives)


def triplet_records_to_images(triplets: TripletRecords) -> list[ImageRecord]:
    """Turn triplet rows into per-image records with pseudo-identities.

    Anchor and positive of a row share an identity; identities are merged across rows with a
    union-find over (anchor, positive) links, so that a class folder's images end up with one
    label. Negatives only get a label of their own (or their linked one). Labels are ints.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, p, n in zip(triplets.anchors, triplets.positives, triplets.negatives):
        ra, rp = find(a), find(p)
        if ra != rp:
            parent[rp] = ra
        find(n)
    roots = sorted({find(x) for x in parent})
    ids = {r: i for i, r in enumerate(roots)}
    return [ImageRecord(path, ids[find(path)], {}) for path in sorted(parent)]


def listing(source: Path, people_file: str | None = None) -> Listing:
    """The ``triplets_csv`` layout: the images of the CSV ``source`` and its rows."""
    triplets = read_triplets_csv(source)
    return Listing(triplet_records_to_images(triplets), triplets)
