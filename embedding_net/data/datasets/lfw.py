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
from embedding_net.data.text_files import ParseError, line_error, text_lines

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


def _read_lines(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """``(line number, whitespace-separated fields)`` of the non-blank lines of ``path``."""
    return [(n, line.split()) for n, line in text_lines(path, what)]


def _count(path, line: int, field: str, what: str) -> int:
    """``field`` as a positive int (ASCII digits only), else a ParseError naming ``line``."""
    if not (field.isascii() and field.isdigit()) or int(field) < 1:
        raise line_error(path, line, f"{what} (a positive integer)", field)
    return int(field)


def _name(path, line: int, field: str) -> str:
    """``field`` as a person name: a folder name, not a path."""
    if "/" in field or "\\" in field or field in (".", ".."):
        raise line_error(path, line, "a person name (a folder name, not a path)", field)
    return field


def _pairs_header(pairs_file: Path, line: int, header: list[str]) -> tuple[int, int]:
    """``(folds, pairs per fold and kind)`` of a pairs file's first line."""
    if len(header) not in (1, 2):
        raise line_error(pairs_file, line, "'N' or 'folds N' (LFW pairs header)", " ".join(header))
    counts = [_count(pairs_file, line, f, "an LFW pairs header count") for f in header]
    return (1, counts[0]) if len(counts) == 1 else (counts[0], counts[1])


def _pair_paths(pairs_file, line, parts, matched, image_root, ext) -> tuple[str, str]:
    """The two image paths of one pairs line (``line``: its 1-based line number)."""
    kind = "matched pair 'Name n1 n2'" if matched else "mismatched pair 'Name1 n1 Name2 n2'"
    if len(parts) != (3 if matched else 4):
        raise line_error(pairs_file, line, f"a {kind}", " ".join(parts))
    names = [parts[0], parts[0]] if matched else [parts[0], parts[2]]
    numbers = [parts[1], parts[2]] if matched else [parts[1], parts[3]]
    a, b = (
        lfw_image_path(
            image_root,
            _name(pairs_file, line, name),
            _count(pairs_file, line, number, "an image number"),
            ext,
        )
        for name, number in zip(names, numbers)
    )
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
        FileNotFoundError: ``pairs_file`` does not exist; a listed image is missing and
            ``skip_missing`` is False.
        ParseError: (a ValueError) the file is binary, not UTF-8 or does not follow the format:
            the message names the file, the line and what was expected (a name that is a
            path, e.g. an absolute one, is refused: names are folder names under
            ``image_root``).
    """
    pairs_file = Path(pairs_file)
    lines = _read_lines(pairs_file, "read_lfw_pairs(pairs_file)")
    if not lines:
        raise ParseError(pairs_file, None, "expected an LFW pairs file, got an empty file")
    header_line, header = lines[0]
    n_folds, n_per = _pairs_header(pairs_file, header_line, header)
    expected = n_folds * 2 * n_per
    body = lines[1:]
    if len(body) != expected:
        raise ParseError(
            pairs_file,
            header_line,
            f"header says {n_folds} fold(s) x 2 x {n_per} pairs = {expected} lines, "
            f"found {len(body)}",
        )
    paths1, paths2, same, folds = [], [], [], []
    for i, (line, parts) in enumerate(body):
        fold, pos = divmod(i, 2 * n_per)
        matched = pos < n_per
        a, b = _pair_paths(pairs_file, line, parts, matched, image_root, ext)
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

    Raises:
        FileNotFoundError: ``people_file`` does not exist.
        ParseError: (a ValueError) binary, not UTF-8, or a line that is not a positive count /
            ``Name n`` where one is expected (file and line named).
    """
    people_file = Path(people_file)
    lines = _read_lines(people_file, "read_lfw_people(people_file)")
    if not lines:
        raise ParseError(people_file, None, "expected an LFW people file, got an empty file")
    names, counts, folds = [], [], []

    def count_at(pos: int) -> int:
        if pos >= len(lines):
            raise ParseError(people_file, lines[-1][0] + 1, "expected a count, got the file's end")
        line, parts = lines[pos]
        if len(parts) != 1:
            raise line_error(people_file, line, "a count", " ".join(parts))
        return _count(people_file, line, parts[0], "a count")

    def read_block(start: int, fold: int) -> int:
        n = count_at(start)
        for j in range(start + 1, start + 1 + n):
            if j >= len(lines):
                raise ParseError(
                    people_file, lines[-1][0] + 1, "expected 'Name n', got the file's end"
                )
            line, parts = lines[j]
            if len(parts) != 2:
                raise line_error(people_file, line, "'Name n'", " ".join(parts))
            names.append(_name(people_file, line, parts[0]))
            counts.append(_count(people_file, line, parts[1], "an image count"))
            folds.append(fold)
        return start + 1 + n

    first = count_at(0)
    view2 = len(lines) > 1 and len(lines[1][1]) == 1
    if view2:
        pos = 1
        for fold in range(first):
            pos = read_block(pos, fold)
    else:
        pos = read_block(0, 0)
    if pos != len(lines):
        line, parts = lines[pos]
        raise line_error(
            people_file,
            line,
            f"the end of the file ({len(lines) - pos} unexpected line(s))",
            " ".join(parts),
        )
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
