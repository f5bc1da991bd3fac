"""LFW: person folders ``Name/Name_NNNN.jpg`` and the official protocol files.

``pairs.txt`` (View 2, 10 folds), ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1) and
``people.txt`` / ``peopleDev*.txt`` (:func:`read_lfw_pairs`, :func:`read_lfw_people`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from embedding_net.data.datasets.base import ImageRecord, Listing, require_dir
from embedding_net.data.datasets.folders import list_class_folders

logger = logging.getLogger(__name__)


class LFWPairs(NamedTuple):
    """Parsed LFW pairs file.

    Attributes:
        paths1, paths2: lists of str image paths (``image_root/Name/Name_NNNN.jpg``).
        is_same: bool np array (n,), True for a matched pair.
        folds: int np array (n,), fold id 0..9 for View 2, all 0 for View 1.
    """

    paths1: list[str]
    paths2: list[str]
    is_same: np.ndarray
    folds: np.ndarray


def lfw_image_path(image_root: str | os.PathLike, name: str, number: int, ext: str = ".jpg") -> str:
    """``image_root/Name/Name_NNNN.jpg`` as in the LFW layout."""
    return str(Path(image_root) / name / f"{name}_{int(number):04d}{ext}")


def _read_lines(path: Path) -> list[list[str]]:
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def _pairs_header(pairs_file: Path, header: list[str]) -> tuple[int, int]:
    """``(folds, pairs per fold and kind)`` of a pairs file's first line."""
    try:
        if len(header) == 2:
            return int(header[0]), int(header[1])
        if len(header) == 1:
            return 1, int(header[0])
        raise ValueError
    except ValueError:
        raise ValueError(
            f"{pairs_file}: line 1 must be 'N' or 'folds N' (LFW pairs header), got {' '.join(header)!r}"
        ) from None


def _pair_paths(pairs_file, line, parts, matched, image_root, ext) -> tuple[str, str]:
    """The two image paths of one pairs line (``line``: its 1-based line number)."""
    try:
        if matched:
            if len(parts) != 3:
                raise ValueError
            a = lfw_image_path(image_root, parts[0], int(parts[1]), ext)
            b = lfw_image_path(image_root, parts[0], int(parts[2]), ext)
        else:
            if len(parts) != 4:
                raise ValueError
            a = lfw_image_path(image_root, parts[0], int(parts[1]), ext)
            b = lfw_image_path(image_root, parts[2], int(parts[3]), ext)
    except ValueError:
        kind = "'Name n1 n2'" if matched else "'Name1 n1 Name2 n2'"
        raise ValueError(
            f"{pairs_file}: line {line} should be a {'matched' if matched else 'mismatched'} "
            f"pair {kind}, got {' '.join(parts)!r}"
        ) from None
    return a, b


def _present_pairs(pairs_file, paths1, paths2, skip_missing: bool) -> list[int]:
    """Indices of the pairs whose two images exist; warns (or raises) about the others."""
    keep = [os.path.exists(a) and os.path.exists(b) for a, b in zip(paths1, paths2)]
    if not all(keep):
        missing = sorted(
            {
                p
                for a, b, k in zip(paths1, paths2, keep)
                if not k
                for p in (a, b)
                if not os.path.exists(p)
            }
        )
        if not skip_missing:
            raise FileNotFoundError(
                f"{pairs_file}: {len(missing)} image(s) missing, e.g. {missing[0]}"
            )
        logger.warning(
            "%s: %d of %d pair(s) skipped, %d image(s) missing: %s",
            pairs_file,
            keep.count(False),
            len(keep),
            len(missing),
            ", ".join(missing[:20]),
        )
    return [i for i, k in enumerate(keep) if k]


def read_lfw_pairs(
    pairs_file: str | os.PathLike,
    image_root: str | os.PathLike,
    ext: str = ".jpg",
    skip_missing: bool = True,
) -> LFWPairs:
    """Read an LFW pairs file: View 2 ``pairs.txt`` or View 1 ``pairsDevTrain/Test.txt``.

    Formats (whitespace separated):

    * header ``"10 300"`` (View 2): 10 folds, each 300 matched lines ``Name n1 n2`` followed by
      300 mismatched lines ``Name1 n1 Name2 n2``;
    * header ``"N"`` (View 1 and ``pairs_sample.txt``): N matched lines then N mismatched lines,
      one fold (fold id 0).

    Args:
        pairs_file: the pairs file.
        image_root: LFW image folder holding ``Name/Name_NNNN.jpg``.
        ext: image extension.
        skip_missing: drop pairs whose images do not exist (counted, warned with their names);
            when False a missing file raises FileNotFoundError.

    Returns:
        :class:`LFWPairs` (paths1, paths2, is_same bool array, folds int array).

    Raises:
        ValueError: the file does not follow the format (line number named).
    """
    pairs_file = Path(pairs_file)
    if not pairs_file.is_file():
        raise FileNotFoundError(f"read_lfw_pairs(pairs_file): {pairs_file} does not exist")
    lines = _read_lines(pairs_file)
    if not lines:
        raise ValueError(f"{pairs_file}: empty pairs file")
    n_folds, n_per = _pairs_header(pairs_file, lines[0])
    expected = n_folds * 2 * n_per
    body = lines[1:]
    if len(body) != expected:
        raise ValueError(
            f"{pairs_file}: header says {n_folds} fold(s) x 2 x {n_per} pairs = {expected} lines, "
            f"found {len(body)}"
        )
    paths1, paths2, same, folds = [], [], [], []
    for i, parts in enumerate(body):
        fold, pos = divmod(i, 2 * n_per)
        matched = pos < n_per
        a, b = _pair_paths(pairs_file, i + 2, parts, matched, image_root, ext)
        paths1.append(a)
        paths2.append(b)
        same.append(matched)
        folds.append(fold)
    idx = _present_pairs(pairs_file, paths1, paths2, skip_missing)
    return LFWPairs(
        [paths1[i] for i in idx],
        [paths2[i] for i in idx],
        np.asarray([same[i] for i in idx], dtype=bool),
        np.asarray([folds[i] for i in idx], dtype=np.int32),
    )


class LFWPeople(NamedTuple):
    """Parsed LFW people file: ``names`` (list of str), ``counts`` (int array), ``folds`` (int array)."""

    names: list[str]
    counts: np.ndarray
    folds: np.ndarray


def read_lfw_people(people_file: str | os.PathLike) -> LFWPeople:
    """Read ``people.txt`` (View 2: ``10`` then per fold a count and ``Name n`` lines) or
    ``peopleDevTrain/Test.txt`` (View 1: a count then ``Name n`` lines, fold 0).

    Returns:
        :class:`LFWPeople` with the person names, their image counts and fold ids.
    """
    people_file = Path(people_file)
    if not people_file.is_file():
        raise FileNotFoundError(f"read_lfw_people(people_file): {people_file} does not exist")
    lines = _read_lines(people_file)
    if not lines or len(lines[0]) != 1:
        raise ValueError(f"{people_file}: line 1 must be a count (LFW people header)")
    names, counts, folds = [], [], []

    def read_block(start: int, fold: int) -> int:
        if start >= len(lines) or len(lines[start]) != 1:
            raise ValueError(f"{people_file}: line {start + 1} should be a count")
        n = int(lines[start][0])
        for j in range(start + 1, start + 1 + n):
            if j >= len(lines) or len(lines[j]) != 2:
                raise ValueError(f"{people_file}: line {j + 1} should be 'Name n'")
            names.append(lines[j][0])
            counts.append(int(lines[j][1]))
            folds.append(fold)
        return start + 1 + n

    first = int(lines[0][0])
    view2 = len(lines) > 1 and len(lines[1]) == 1
    if view2:
        pos = 1
        for fold in range(first):
            pos = read_block(pos, fold)
    else:
        pos = read_block(0, 0)
    if pos != len(lines):
        raise ValueError(f"{people_file}: {len(lines) - pos} unexpected line(s) after line {pos}")
    return LFWPeople(names, np.asarray(counts, dtype=np.int32), np.asarray(folds, dtype=np.int32))


def _people_records(image_root: Path, people_file, ext: str) -> list[ImageRecord]:
    people = read_lfw_people(people_file)
    records, missing = [], []
    for name, count in zip(people.names, people.counts):
        for n in range(1, int(count) + 1):
            path = lfw_image_path(image_root, name, n, ext)
            if os.path.exists(path):
                records.append(ImageRecord(path, name, {}))
            else:
                missing.append(path)
    if missing:
        logger.warning(
            "%d image(s) listed in %s are missing: %s",
            len(missing),
            people_file,
            ", ".join(missing[:20]),
        )
    return records


def list_lfw_people(
    image_root: str | os.PathLike, people_file: str | os.PathLike | None = None, ext: str = ".jpg"
) -> list[ImageRecord]:
    """List LFW images (``image_root/Name/Name_NNNN.jpg``), optionally only the people of a people file.

    Returns:
        list of :class:`ImageRecord`, label = person name, metadata ``{"number": n}``.
    """
    image_root = require_dir(image_root, "list_lfw_people(image_root)")
    if people_file is None:
        records = list_class_folders(image_root, splits=())
    else:
        records = _people_records(image_root, people_file, ext)
    out = []
    for rec in records:
        m = re.search(r"_(\d+)$", Path(rec.path).stem)
        out.append(ImageRecord(rec.path, rec.label, {"number": int(m.group(1))} if m else {}))
    return out


def listing(source: Path, people_file: str | None = None) -> Listing:
    """The ``lfw`` layout: :func:`list_lfw_people` of ``source`` (only ``people_file``'s people)."""
    return Listing(list_lfw_people(source, people_file))
