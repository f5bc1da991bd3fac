"""Adapters: list ``(path, label, metadata)`` records from the real dataset layouts.

Every adapter returns plain Python records (:class:`ImageRecord`), never images: nothing is
decoded here. Labels are the dataset's own identity names (folder name, person id, class id);
:func:`encode_labels` remaps them to ``int32`` ``0..N-1`` with a label map.

Supported layouts:

* class folders: ``root/<class>/*`` or ``root/train/<class>/*`` + ``root/val/<class>/*``
  (:func:`list_class_folders`); GTSRB with track ids (:func:`list_gtsrb`);
* CSV triplets with columns ``Anchor,Positive,Negative`` (:func:`read_triplets_csv`);
* person re-identification file names (:func:`list_reid_images`): Market-1501 / DukeMTMC
  (``0001_c1s1_000151_00.jpg``; id ``-1`` = junk, ``0000`` = distractor), CUHK03 as stored in
  the shared data (``{pid:04d}_c{cam}_{shot:02d}.jpg``) and MARS
  (``bbox_train/0001/0001C1T0001F001.jpg``: id, camera, tracklet, frame);
* LFW: person folders + the official ``pairs.txt`` (View 2, 10 folds), ``pairsDevTrain.txt`` /
  ``pairsDevTest.txt`` (View 1) and ``people.txt`` / ``peopleDev*.txt`` files
  (:func:`read_lfw_pairs`, :func:`read_lfw_people`).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

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


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _require_dir(root: str | os.PathLike, what: str) -> Path:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{what}: {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{what}: {root} is not a directory")
    return root


def _list_one_class_root(root: Path, split: str | None) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    empty: list[str] = []
    skipped: list[str] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.iterdir() if p.is_file())
        images = [p for p in files if _is_image(p)]
        skipped.extend(str(p) for p in files if not _is_image(p))
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
    root = _require_dir(root, "list_class_folders(root)")
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


_GTSRB_NAME = re.compile(r"^(\d+)_(\d+)$")


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
    root = _require_dir(root, "list_gtsrb(root)")
    labels_csv = root / "labels.csv"
    records: list[ImageRecord] = []
    if labels_csv.exists():
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
    else:
        for rec in list_class_folders(root):
            if split is not None and rec.metadata.get("split") != split:
                continue
            match = _GTSRB_NAME.match(Path(rec.path).stem)
            meta = dict(rec.metadata)
            if match:
                meta["tracklet"] = int(match.group(1))
                meta["index"] = int(match.group(2))
            records.append(ImageRecord(rec.path, int(rec.label), meta))
    if not records:
        raise FileNotFoundError(f"list_gtsrb(root): no image found under {root} (split={split!r})")
    return records


@dataclass(frozen=True)
class TripletRecords:
    """Rows of a triplets CSV: three aligned lists of paths (``anchors[i], positives[i], negatives[i]``)."""

    anchors: list[str]
    positives: list[str]
    negatives: list[str]

    def __len__(self) -> int:
        return len(self.anchors)


def read_triplets_csv(
    csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None
) -> TripletRecords:
    """Read a CSV of triplets with columns ``Anchor,Positive,Negative`` (any case).

    Args:
        csv_path: the CSV file.
        image_root: folder the paths are relative to; defaults to the CSV's folder. Absolute paths
            in the CSV are kept.

    Returns:
        :class:`TripletRecords`. Rows naming a file that does not exist are skipped with a
        warning that counts them and names the files.

    Raises:
        FileNotFoundError: the CSV does not exist, or no row is usable.
        ValueError: a column is missing.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"read_triplets_csv(csv_path): {csv_path} does not exist")
    root = Path(image_root) if image_root is not None else csv_path.parent
    anchors, positives, negatives, missing = [], [], [], []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        columns = {name.strip().lower(): name for name in (reader.fieldnames or [])}
        for need in ("anchor", "positive", "negative"):
            if need not in columns:
                raise ValueError(
                    f"{csv_path}: expected columns Anchor,Positive,Negative, got {reader.fieldnames}"
                )
        for row in reader:
            paths = [root / row[columns[c]].strip() for c in ("anchor", "positive", "negative")]
            absent = [str(p) for p in paths if not p.exists()]
            if absent:
                missing.extend(absent)
                continue
            anchors.append(str(paths[0]))
            positives.append(str(paths[1]))
            negatives.append(str(paths[2]))
    if missing:
        logger.warning(
            "%s: %d row(s) skipped, files do not exist: %s",
            csv_path,
            len(missing),
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


# --- person re-identification -------------------------------------------------------------------

_MARKET = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)_(\d+)$")
_CUHK03 = re.compile(r"^(\d+)_c(\d+)_(\d+)$")
_MARS = re.compile(r"^(\d{4})C(\d)T(\d{4})F(\d{3})$")


def _parse_market(stem: str) -> dict | None:
    m = _MARKET.match(stem)
    if not m:
        return None
    return {
        "pid": int(m.group(1)),
        "camera": int(m.group(2)),
        "sequence": int(m.group(3)),
        "frame": int(m.group(4)),
        "box": int(m.group(5)),
    }


def _parse_cuhk03(stem: str) -> dict | None:
    m = _CUHK03.match(stem)
    if not m:
        return None
    return {"pid": int(m.group(1)), "camera": int(m.group(2)), "shot": int(m.group(3))}


def _parse_mars(stem: str) -> dict | None:
    m = _MARS.match(stem)
    if not m:
        return None
    return {
        "pid": int(m.group(1)),
        "camera": int(m.group(2)),
        "tracklet": int(m.group(3)),
        "frame": int(m.group(4)),
    }


_REID_PARSERS = {
    "market": _parse_market,
    "duke": _parse_market,
    "cuhk03": _parse_cuhk03,
    "mars": _parse_mars,
}


def parse_reid_name(name: str, naming: str = "market") -> dict | None:
    """Parse a re-id file name (with or without folder/extension); ``None`` when it does not match.

    Returns a dict with ``pid``, ``camera`` and, depending on ``naming``, ``tracklet``, ``frame``,
    ``sequence``, ``box`` or ``shot``.
    """
    if naming not in _REID_PARSERS:
        raise ValueError(f"naming must be one of {sorted(_REID_PARSERS)}, got {naming!r}")
    return _REID_PARSERS[naming](Path(name).stem)


def list_reid_images(
    root: str | os.PathLike,
    naming: str = "market",
    keep_junk: bool = False,
    keep_distractors: bool = False,
) -> list[ImageRecord]:
    """List a person re-identification folder, parsing identity and camera from the file names.

    Files are searched recursively (MARS keeps ``bbox_train/<pid>/`` folders). Namings:

    * ``"market"`` (also ``"duke"``): ``0001_c1s1_000151_00.jpg`` -> pid 1, camera 1, sequence
      1, frame 151, box 0 (no tracklet). Pid ``-1`` (junk) and ``0`` (distractors) are dropped
      unless ``keep_junk`` / ``keep_distractors``.
    * ``"cuhk03"``: ``0005_c1_00.jpg`` -> pid 5, camera 1, shot 0 (pid 0 is a real identity).
    * ``"mars"``: ``0001C1T0001F001.jpg`` -> pid 1, camera 1, tracklet 1, frame 1; pid 0
      (distractors) follows ``keep_distractors`` (MARS' ``00-1`` junk names do not parse and
      are reported as not matching).

    Returns:
        list of :class:`ImageRecord`, label = int pid, metadata holds the parsed fields.
        Files whose name does not match the naming are skipped with a warning naming them.
    """
    if naming not in _REID_PARSERS:
        raise ValueError(f"naming must be one of {sorted(_REID_PARSERS)}, got {naming!r}")
    root = _require_dir(root, "list_reid_images(root)")
    parse = _REID_PARSERS[naming]
    records, unmatched, dropped = [], [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not _is_image(path):
                continue
            meta = parse(path.stem)
            if meta is None:
                unmatched.append(str(path))
                continue
            pid = meta["pid"]
            if naming != "cuhk03" and (
                (pid < 0 and not keep_junk) or (pid == 0 and not keep_distractors)
            ):
                dropped += 1
                continue
            records.append(ImageRecord(str(path), pid, meta))
    if unmatched:
        logger.warning(
            "%d file(s) under %s do not follow the %r naming, skipped: %s",
            len(unmatched),
            root,
            naming,
            ", ".join(unmatched[:20]),
        )
    if dropped:
        logger.info("%d junk/distractor image(s) under %s dropped", dropped, root)
    if not records:
        raise FileNotFoundError(
            f"list_reid_images(root): no image with {naming!r} naming under {root}"
        )
    return records


# --- LFW --------------------------------------------------------------------------------------


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
    header = lines[0]
    try:
        if len(header) == 2:
            n_folds, n_per = int(header[0]), int(header[1])
        elif len(header) == 1:
            n_folds, n_per = 1, int(header[0])
        else:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{pairs_file}: line 1 must be 'N' or 'folds N' (LFW pairs header), got {' '.join(header)!r}"
        ) from None
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
                f"{pairs_file}: line {i + 2} should be a {'matched' if matched else 'mismatched'} "
                f"pair {kind}, got {' '.join(parts)!r}"
            ) from None
        paths1.append(a)
        paths2.append(b)
        same.append(matched)
        folds.append(fold)
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
    idx = [i for i, k in enumerate(keep) if k]
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


def list_lfw_people(
    image_root: str | os.PathLike, people_file: str | os.PathLike | None = None, ext: str = ".jpg"
) -> list[ImageRecord]:
    """List LFW images (``image_root/Name/Name_NNNN.jpg``), optionally only the people of a people file.

    Returns:
        list of :class:`ImageRecord`, label = person name, metadata ``{"number": n}``.
    """
    image_root = _require_dir(image_root, "list_lfw_people(image_root)")
    if people_file is None:
        records = list_class_folders(image_root, splits=())
    else:
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
    out = []
    for rec in records:
        m = re.search(r"_(\d+)$", Path(rec.path).stem)
        out.append(ImageRecord(rec.path, rec.label, {"number": int(m.group(1))} if m else {}))
    return out


# --- labels -------------------------------------------------------------------------------------


def encode_labels(labels: Iterable[Any], label_map: dict | None = None) -> tuple[np.ndarray, dict]:
    """Remap arbitrary hashable labels to ``int32`` ``0..N-1``.

    Args:
        labels: iterable of labels.
        label_map: an existing ``{label: int}`` map to apply; labels missing from it raise
            ValueError. When None, a map is built over the sorted distinct labels.

    Returns:
        (int32 array (n,), label map ``{original label: int}``).
    """
    labels = list(labels)
    if label_map is None:
        distinct = sorted(set(labels), key=lambda x: (str(type(x)), x))
        label_map = {lab: i for i, lab in enumerate(distinct)}
    unknown = [lab for lab in set(labels) if lab not in label_map]
    if unknown:
        raise ValueError(f"labels: {len(unknown)} label(s) not in label_map, e.g. {unknown[0]!r}")
    if len(label_map) >= 2**24:
        logger.warning(
            "more than 2^24 labels: float32 label casts inside Keras losses lose precision"
        )
    return np.asarray([label_map[lab] for lab in labels], dtype=np.int32), dict(label_map)
