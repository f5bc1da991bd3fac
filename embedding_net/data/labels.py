"""Labels of any dataset remapped to ``int32`` ``0..N-1`` (:func:`encode_labels`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

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
