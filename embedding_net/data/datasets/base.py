"""What every dataset module shares: the :class:`ImageRecord` it lists and file checks.

A dataset module lists plain Python records, never images: nothing is decoded here. Labels
are the dataset's own identity names (folder name, person id, class id);
:func:`embedding_net.data.labels.encode_labels` remaps them to ``int32`` ``0..N-1``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".ppm",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
)


class ImageRecord(NamedTuple):
    """One image of a dataset.

    Attributes:
        path: str, path of the image file.
        label: the identity (class name, person id, class id): any hashable value.
        metadata: dict, e.g. ``{"camera": 1, "tracklet": 3, "frame": 12, "split": "train"}``.
    """

    path: str
    label: Any
    metadata: dict


class Listing(NamedTuple):
    """What a layout lists: the images and, for CSV triplets, the CSV rows.

    Attributes:
        records: list of :class:`ImageRecord`.
        triplets: :class:`~embedding_net.data.datasets.triplets_csv.TripletRecords` of a
            triplets CSV, None for every other layout.
    """

    records: list
    triplets: Any = None


def is_image(path: Path) -> bool:
    """True when ``path`` has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def require_dir(root: str | os.PathLike, what: str) -> Path:
    """``root`` as a Path; FileNotFoundError / NotADirectoryError naming ``what`` otherwise."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{what}: {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{what}: {root} is not a directory")
    return root
