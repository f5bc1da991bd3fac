"""Person re-identification file names: Market-1501, DukeMTMC, CUHK03 and MARS.

* Market-1501 / DukeMTMC: ``0001_c1s1_000151_00.jpg`` (id ``-1`` = junk, ``0000`` = distractor);
* CUHK03 as stored in the shared data: ``{pid:04d}_c{cam}_{shot:02d}.jpg``;
* MARS: ``bbox_train/0001/0001C1T0001F001.jpg`` (id, camera, tracklet, frame).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from embedding_net.data.datasets.base import ImageRecord, Listing, is_image, require_dir

logger = logging.getLogger(__name__)

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


def _check_naming(naming: str) -> None:
    if naming not in _REID_PARSERS:
        raise ValueError(f"naming must be one of {sorted(_REID_PARSERS)}, got {naming!r}")


def parse_reid_name(name: str, naming: str = "market") -> dict | None:
    """Parse a re-id file name (with or without folder/extension); ``None`` when it does not match.

    Returns a dict with ``pid``, ``camera`` and, depending on ``naming``, ``tracklet``, ``frame``,
    ``sequence``, ``box`` or ``shot``.
    """
    _check_naming(naming)
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
    _check_naming(naming)
    root = require_dir(root, "list_reid_images(root)")
    parse = _REID_PARSERS[naming]
    records, unmatched, dropped = [], [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not is_image(path):
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


def listing(source: Path, people_file: str | None = None, *, naming: str) -> Listing:
    """The re-id layouts (``market``, ``duke``, ``cuhk03``, ``mars``): :func:`list_reid_images`."""
    return Listing(list_reid_images(source, naming=naming))
