"""The images of a config's ``data`` section: listing, subsetting and the train/validation split.

Splits are seeded (``np.random.default_rng(seed)``) and never mix an identity (``identity``)
or a track (``tracklet``) between training and validation.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedding_net.config.schema import DataConfig

logger = logging.getLogger(__name__)


@dataclass
class SplitRecords:
    """Training and validation images of a config.

    Attributes:
        train: list of ``ImageRecord`` used for training (and as the kNN reference set).
        val: list of ``ImageRecord`` held out (may be empty).
        train_triplets: for ``layout: triplets_csv``, the CSV rows used for training
            (``TripletRecords``); None otherwise.
        label_map: ``{original label: int}`` of the training identities (sorted).
    """

    train: list
    val: list
    train_triplets: object | None
    label_map: dict


def list_records(data: DataConfig):
    """List the images of ``data.root`` following ``data.layout``.

    The layout is looked up in :data:`embedding_net.data.datasets.LAYOUTS` (a deprecated
    spelling is accepted with a ``DeprecationWarning``).

    Returns:
        ``(records, triplets)``: a list of ``ImageRecord`` and, for ``triplets_csv``, the
        ``TripletRecords`` of the CSV (else None).

    Raises:
        FileNotFoundError: ``data.root`` does not exist or holds no image.
        ValueError: unknown layout.
    """
    from embedding_net.data.datasets import get_layout

    root = Path(data.root)
    if not root.exists():
        raise FileNotFoundError(f"data.root: {root} does not exist")
    return get_layout(data.layout).read(root, data.people_file)


def _subset(records: list, data: DataConfig, rng: np.random.Generator) -> list:
    if data.max_identities is None and data.max_images_per_identity is None:
        return records
    by_label = defaultdict(list)
    for r in records:
        by_label[r.label].append(r)
    labels = sorted(by_label, key=lambda x: (str(type(x)), x))
    if data.max_identities is not None and len(labels) > data.max_identities:
        chosen = rng.choice(len(labels), data.max_identities, replace=False)
        labels = [labels[i] for i in sorted(chosen)]
    out = []
    for label in labels:
        items = by_label[label]
        n = data.max_images_per_identity
        if n is not None and len(items) > n:
            keep = sorted(rng.choice(len(items), n, replace=False))
            items = [items[i] for i in keep]
        out.extend(items)
    return out


def _drop_small_identities(train: list, data: DataConfig) -> list:
    """The training records of identities with at least ``data.min_images_per_identity``
    images; the number left out is logged."""
    counts: dict = defaultdict(int)
    for r in train:
        counts[r.label] += 1
    n = data.min_images_per_identity
    kept = [r for r in train if counts[r.label] >= n]
    dropped = sum(1 for c in counts.values() if c < n)
    if not kept:
        raise ValueError(
            f"data.min_images_per_identity: no training identity under {data.root} has "
            f"{n} or more images (largest: {max(counts.values())})"
        )
    logger.info(
        "data: %d training identities with fewer than %d images left out of training (%d images)",
        dropped,
        n,
        len(train) - len(kept),
    )
    return kept


def is_final(data: DataConfig) -> bool:
    """Final-training mode: ``data.val_fraction`` is 0, so every image of the training split
    (for ``split: given`` the ``train/`` and ``val/`` folders together) trains and nothing is
    held out; the run has no validation metrics."""
    return data.val_fraction == 0


def split_seed(config) -> int:
    """The seed of the hold-out split and validation set: ``data.split_seed``, or the
    config's ``seed`` when that is None."""
    seed = config.data.split_seed
    return config.seed if seed is None else seed


def _split_none(records: list, data: DataConfig, rng: np.random.Generator):
    return list(records), []


def _split_given(records: list, data: DataConfig, rng: np.random.Generator):
    splits = {r.metadata.get("split") for r in records}
    if not {"train", "val"} <= splits:
        raise ValueError(
            f"data.split: 'given' needs train/ and val/ folders under {data.root}, found "
            f"splits {sorted(s for s in splits if s)}"
        )
    train = [r for r in records if r.metadata.get("split") == "train"]
    val = [r for r in records if r.metadata.get("split") == "val"]
    return train, val


def _split_identity(records: list, data: DataConfig, rng: np.random.Generator):
    labels = sorted({r.label for r in records}, key=lambda x: (str(type(x)), x))
    if len(labels) < 3:
        raise ValueError(
            f"data.split: 'identity' needs at least 3 identities, {data.root} has {len(labels)}"
        )
    n_val = min(len(labels) - 2, max(2, int(round(data.val_fraction * len(labels)))))
    held = {labels[i] for i in rng.choice(len(labels), n_val, replace=False)}
    train = [r for r in records if r.label not in held]
    val = [r for r in records if r.label in held]
    return train, val


def _split_tracklet(records: list, data: DataConfig, rng: np.random.Generator):
    from embedding_net.data.datasets import layout_names

    if any(r.metadata.get("tracklet") is None for r in records):
        raise ValueError(
            f"data.split: 'tracklet' needs track ids (layouts "
            f"{', '.join(layout_names(tracklets=True))}); {data.root} has images without one"
        )
    tracks = defaultdict(set)
    for r in records:
        tracks[r.label].add(r.metadata["tracklet"])
    held = set()
    for label in sorted(tracks, key=lambda x: (str(type(x)), x)):
        ids = sorted(tracks[label])
        if len(ids) < 2:
            continue
        n_val = min(len(ids) - 1, max(1, int(round(data.val_fraction * len(ids)))))
        held.update((label, ids[i]) for i in rng.choice(len(ids), n_val, replace=False))
    train = [r for r in records if (r.label, r.metadata["tracklet"]) not in held]
    val = [r for r in records if (r.label, r.metadata["tracklet"]) in held]
    return train, val


# data.split -> (records, data, rng) -> (train, val)
_SPLITS = {
    "none": _split_none,
    "given": _split_given,
    "identity": _split_identity,
    "tracklet": _split_tracklet,
}


def _train_triplets(triplets, train: list, data: DataConfig):
    """The CSV rows whose three images are all training images (pseudo-identities by union-find)."""
    from embedding_net.data.datasets import TripletRecords

    train_paths = {r.path for r in train}
    keep = [
        i
        for i, (a, p, n) in enumerate(zip(triplets.anchors, triplets.positives, triplets.negatives))
        if a in train_paths and p in train_paths and n in train_paths
    ]
    if not keep:
        raise ValueError(f"data: no CSV row of {data.root} is left for training after the split")
    return TripletRecords(
        [triplets.anchors[i] for i in keep],
        [triplets.positives[i] for i in keep],
        [triplets.negatives[i] for i in keep],
    )


def split_records(records: list, triplets, data: DataConfig, seed: int) -> SplitRecords:
    """Subset (``max_identities``, ``max_images_per_identity``) and split the records; then
    leave training identities with fewer than ``min_images_per_identity`` images out.

    Args:
        records: ``ImageRecord`` list from :func:`list_records`.
        triplets: ``TripletRecords`` for ``triplets_csv`` (else None).
        data: the data section.
        seed: split seed.

    Returns:
        :class:`SplitRecords`.

    Raises:
        ValueError: the split cannot be made (no ``train``/``val`` folders for ``given``, no
            track ids for ``tracklet``, fewer than 2 identities to hold out from).
    """
    from embedding_net.data.labels import encode_labels

    rng = np.random.default_rng(seed)
    records = _subset(records, data, rng)
    if data.split not in _SPLITS:  # pragma: no cover - validated by the schema
        raise ValueError(f"data.split: unknown split {data.split!r}")
    if is_final(data):
        train, val = list(records), []
        logger.info("data: final-training mode (data.val_fraction 0): every image trains")
    else:
        train, val = _SPLITS[data.split](records, data, rng)
    if not train:
        raise ValueError(f"data: no training image left under {data.root} after the split")
    if data.min_images_per_identity is not None:
        train = _drop_small_identities(train, data)
    _, label_map = encode_labels([r.label for r in train])
    train_triplets = None if triplets is None else _train_triplets(triplets, train, data)
    logger.info(
        "data: %d training images (%d identities), %d held out (%d identities)",
        len(train),
        len({r.label for r in train}),
        len(val),
        len({r.label for r in val}),
    )
    return SplitRecords(train, val, train_triplets, label_map)
