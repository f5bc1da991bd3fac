"""Class folders: ``root/<class>/<image>``, or ``root/<split>/<class>/<image>`` (layout ``folders``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from embedding_net.data.datasets.base import ImageRecord, Listing, is_image, require_dir

logger = logging.getLogger(__name__)


def _list_one_class_root(root: Path, split: str | None) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    empty: list[str] = []
    skipped: list[str] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.iterdir() if p.is_file())
        images = [p for p in files if is_image(p)]
        skipped.extend(str(p) for p in files if not is_image(p))
        if not images:
            empty.append(str(class_dir))
            continue
        meta = {"split": split} if split else {}
        records.extend(ImageRecord(str(p), class_dir.name, dict(meta)) for p in images)
    if empty:
        logger.warning("%d empty class folder(s) skipped: %s", len(empty), ", ".join(empty))
    if skipped:
        logger.warning(
            "%d non-image file(s) skipped (by extension): %s", len(skipped), ", ".join(skipped)
        )
    return records


def list_class_folders(
    root: str | os.PathLike, splits: Sequence[str] = ("train", "val")
) -> list[ImageRecord]:
    """List ``root/<class>/<image>`` files, or ``root/<split>/<class>/<image>`` when split folders exist.

    Args:
        root: folder holding one sub-folder per class, or holding split folders (``train``,
            ``val``) that each hold class folders.
        splits: names of split folders to look for. When at least one exists under ``root``,
            only those are read and each record's metadata holds ``{"split": name}``.

    Returns:
        list of :class:`ImageRecord` sorted by split, class and file name; label = class folder
        name. Empty class folders and files without an image extension are skipped with a
        warning naming them.

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no image.
    """
    root = require_dir(root, "list_class_folders(root)")
    present = [s for s in splits if (root / s).is_dir()]
    records: list[ImageRecord] = []
    if present:
        for split in present:
            records.extend(_list_one_class_root(root / split, split))
    else:
        records = _list_one_class_root(root, None)
    if not records:
        raise FileNotFoundError(
            f"list_class_folders(root): no image found under {root} "
            f"(expected {root}/<class>/<image> or {root}/train/<class>/<image>)"
        )
    return records


def listing(source: Path, people_file: str | None = None) -> Listing:
    """The ``folders`` layout: :func:`list_class_folders` of ``source``."""
    return Listing(list_class_folders(source))
