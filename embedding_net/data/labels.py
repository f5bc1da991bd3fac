"""Labels of any dataset remapped to ``int32`` ``0..N-1`` (:func:`encode_labels`) and class display
names read from a CSV (:func:`read_class_names`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from embedding_net.data.text_files import ParseError, csv_rows, line_error

logger = logging.getLogger(__name__)


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


def read_class_names(path: str | os.PathLike) -> dict[str, str]:
    """Read ``label -> display name`` from a CSV with a header row (first column the label,
    second the name), e.g. GTSRB's ``class_names.csv`` (``class_id,name``).

    Args:
        path: the CSV (UTF-8; names may be quoted and hold commas).

    Returns:
        ``{label: name}``, both stripped of surrounding spaces, in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ParseError: (a ValueError) binary or not UTF-8; fewer than two columns; no rows; a
            row with another number of fields than the header, an empty label or a label
            already given on an earlier line (file and line named).
    """
    _, rows = csv_rows(path, "class names", header_hint="label,name")
    if not rows:
        raise ParseError(path, None, "expected rows 'label,name' after the header, got none")
    names: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, fields in rows:
        label = fields[0].strip()
        if not label:
            raise line_error(path, line, "a label in the first column", ",".join(fields))
        if label in names:
            raise line_error(
                path, line, f"a label not given before (line {first_line[label]})", label
            )
        names[label] = fields[1].strip()
        first_line[label] = line
    return names
