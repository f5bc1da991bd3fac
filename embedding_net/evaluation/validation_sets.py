"""Held-out evaluation data in memory: :class:`ValidationSet` and its builders.

A :class:`ValidationSet` holds uint8 images plus what a protocol of
:mod:`embedding_net.evaluation.protocols` needs (query and gallery rows, pairs). The builders
take ``ImageRecord`` lists (``embedding_net.data``): :func:`reid_set` (one query per identity
and camera), :func:`classification_set` (queries against references, or leave-one-out) and
:func:`verification_set` (an LFW pairs file, or balanced pairs drawn from the records).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ValidationSet",
    "classification_set",
    "load_record_images",
    "reid_set",
    "verification_set",
]


@dataclass
class ValidationSet:
    """Images and index arrays of one evaluation protocol.

    Attributes:
        protocol: a name of :data:`embedding_net.evaluation.protocols.PROTOCOLS`.
        images: uint8 array ``(n, h, w, 3)``.
        labels: array ``(n,)`` of identities.
        cameras: int array ``(n,)`` (reid).
        query: int array of query rows (reid, classification).
        gallery: int array of gallery rows (reid, classification); empty for leave-one-out.
        pairs: int array ``(n_pairs, 2)`` of rows (verification).
        is_same: bool array ``(n_pairs,)`` (verification).
        paths: list of the image paths, row-aligned with ``images``.
    """

    protocol: str
    images: np.ndarray
    labels: np.ndarray
    cameras: np.ndarray | None = None
    query: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gallery: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    is_same: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    paths: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def load_record_images(records: list, image_size) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(n_kept, h, w, 3)`` of ``ImageRecord`` s and the kept record indices.

    Files are read with :func:`embedding_net.data.load_images` (unreadable ones skipped with a
    warning); records of a TFRecord folder (``path = "<dir>#<split>/<i>"``) are read from the
    shards.
    """
    from embedding_net.data import is_shard_record, load_images, read_shard_images

    if not records:
        return np.zeros((0, *image_size, 3), np.uint8), np.zeros(0, np.int64)
    if is_shard_record(records[0]):
        return read_shard_images(records, image_size), np.arange(len(records))
    loaded = load_images([r.path for r in records], image_size=tuple(image_size))
    return loaded.images, loaded.kept


def _as_labels(records) -> np.ndarray:
    labels = [r.label for r in records]
    if all(isinstance(x, (int, np.integer)) for x in labels):
        return np.asarray(labels, dtype=np.int64)
    return np.asarray([str(x) for x in labels])


def reid_set(records: list, image_size, seed: int = 0) -> ValidationSet:
    """Re-id query/gallery from held-out images: one query per (identity, camera)."""
    images, kept = load_record_images(records, image_size)
    records = [records[i] for i in kept]
    labels = _as_labels(records)
    has_cameras = all("camera" in r.metadata for r in records)
    rng = np.random.default_rng(seed)
    groups = defaultdict(list)
    for i, r in enumerate(records):
        groups[r.label, r.metadata.get("camera", 0)].append(i)
    query = sorted(int(rng.choice(rows)) for _, rows in sorted(groups.items(), key=str))
    is_query = np.zeros(len(records), bool)
    is_query[query] = True
    if has_cameras:
        cameras = np.asarray([int(r.metadata["camera"]) for r in records], np.int64)
    else:  # no camera: queries camera 0, gallery camera 1 (only the query itself is excluded)
        cameras = np.where(is_query, 0, 1).astype(np.int64)
    return ValidationSet(
        "reid",
        images,
        labels,
        cameras=cameras,
        query=np.flatnonzero(is_query),
        gallery=np.flatnonzero(~is_query),
        paths=[r.path for r in records],
    )


def classification_set(
    query_records: list,
    reference_records: list | None,
    image_size,
    max_reference: int | None = None,
    seed: int = 0,
    protocol: str = "classification",
) -> ValidationSet:
    """kNN classification (or ``protocol="retrieval"``): held-out queries against reference
    images, or leave-one-out among the queries without references."""
    rng = np.random.default_rng(seed)
    reference_records = list(reference_records or [])
    if max_reference is not None and len(reference_records) > max_reference:
        keep = sorted(rng.choice(len(reference_records), max_reference, replace=False))
        reference_records = [reference_records[i] for i in keep]
    records = list(query_records) + reference_records
    images, kept = load_record_images(records, image_size)
    n_query = len(query_records)
    records = [records[i] for i in kept]
    return ValidationSet(
        protocol,
        images,
        _as_labels(records),
        query=np.flatnonzero(kept < n_query),
        gallery=np.flatnonzero(kept >= n_query),
        paths=[r.path for r in records],
    )


def verification_set(
    records: list, image_size, num_pairs: int = 600, pairs_file=None, image_root=None, seed: int = 0
) -> ValidationSet:
    """Verification pairs: from an LFW pairs file, or drawn from ``records`` (half matched).

    Drawn pairs follow pairsDevTrain: a matched pair is two different images of one person
    (persons with >= 2 images), a mismatched pair two images of two different persons; pairs
    are distinct and alternate matched / mismatched, so that every contiguous fold of the
    10-fold protocol is balanced (as in LFW's pairs.txt).
    """
    rng = np.random.default_rng(seed)
    if pairs_file is not None:
        from embedding_net.data import read_lfw_pairs

        lfw = read_lfw_pairs(pairs_file, image_root)
        if len(lfw.paths1) == 0:
            raise FileNotFoundError(
                f"{pairs_file}: no pair whose two images exist under {image_root} (expected "
                "LFW pairs lines naming <root>/<name>/<name>_<number>.jpg images)"
            )
        unique = sorted(set(lfw.paths1) | set(lfw.paths2))
        from embedding_net.data import ImageRecord

        records = [ImageRecord(p, p.rsplit("/", 2)[-2], {}) for p in unique]
        position = {p: i for i, p in enumerate(unique)}
        pairs = np.asarray(
            [(position[a], position[b]) for a, b in zip(lfw.paths1, lfw.paths2)], np.int64
        ).reshape(-1, 2)
        is_same = np.asarray(lfw.is_same, bool)
    else:
        pairs, is_same = _draw_pairs(records, num_pairs, rng)
    images, kept = load_record_images(records, image_size)
    remap = np.full(len(records), -1, np.int64)
    remap[kept] = np.arange(len(kept))
    pairs = remap[pairs]
    ok = (pairs >= 0).all(axis=1)
    if not ok.all():
        logger.warning("%d pair(s) dropped: unreadable image", int((~ok).sum()))
    records = [records[i] for i in kept]
    return ValidationSet(
        "verification",
        images,
        _as_labels(records),
        pairs=pairs[ok],
        is_same=is_same[ok],
        paths=[r.path for r in records],
    )


def _draw_pairs(records, num_pairs, rng):
    by_label = defaultdict(list)
    for i, r in enumerate(records):
        by_label[r.label].append(i)
    labels = sorted(by_label, key=lambda x: (str(type(x)), x))
    multi = [lab for lab in labels if len(by_label[lab]) >= 2]
    if not multi or len(labels) < 2:
        raise ValueError(
            "verification pairs need a held-out person with >= 2 images and >= 2 persons; "
            f"got {len(labels)} persons, {len(multi)} with >= 2 images"
        )
    n_half = num_pairs // 2
    matched, seen = [], set()
    for _ in range(n_half * 20):
        if len(matched) == n_half:
            break
        lab = multi[rng.integers(len(multi))]
        a, b = sorted(rng.choice(by_label[lab], 2, replace=False).tolist())
        if (a, b) not in seen:
            seen.add((a, b))
            matched.append((a, b))
    mismatched = []
    for _ in range(n_half * 20):
        if len(mismatched) == n_half:
            break
        la, lb = rng.choice(len(labels), 2, replace=False)
        a = int(rng.choice(by_label[labels[la]]))
        b = int(rng.choice(by_label[labels[lb]]))
        key = (min(a, b), max(a, b))
        if key not in seen:
            seen.add(key)
            mismatched.append((a, b))
    if len(matched) < n_half or len(mismatched) < n_half:
        logger.warning(
            "verification: %d matched and %d mismatched distinct pairs drawn (%d asked each): "
            "the held-out people have too few images",
            len(matched),
            len(mismatched),
            n_half,
        )
    # alternate matched / mismatched so that every contiguous fold of the k-fold protocol
    # holds both kinds in equal numbers (as each fold of LFW's pairs.txt does)
    order = []
    for i in range(max(len(matched), len(mismatched))):
        if i < len(matched):
            order.append((matched[i], True))
        if i < len(mismatched):
            order.append((mismatched[i], False))
    pairs = np.asarray([p for p, _ in order], np.int64)
    is_same = np.asarray([same for _, same in order], bool)
    return pairs, is_same
