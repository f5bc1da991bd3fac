"""Pair and triplet datasets for ``SiameseModel`` and ``TripletModel``.

* :func:`pair_dataset`: ``((x1, x2), y)`` with ``y = 1`` for a same-identity pair and ``0``
  otherwise; each batch holds exactly ``round(positive_fraction * batch_size)`` positive pairs.
* :func:`fixed_pair_dataset`: given pairs (e.g. LFW ``pairs.txt``), in order, for evaluation.
* :func:`triplet_dataset`: x-only ``((anchor, positive, negative),)`` batches, random triplets
  from labelled images or the rows of a triplets CSV.

Images are uint8 ``(batch, h, w, 3)``; pairs and triplets are drawn with a seeded
``np.random.Generator``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from embedding_net.data.datasets.triplets_csv import TripletRecords, read_triplets_csv
from embedding_net.data.images import (
    NATIVE,
    _cardinality,
    _validate_image_size,
    check_images,
    decode_resize,
    read_image_file,
)
from embedding_net.data.labels import encode_labels


def _checked(paths: Sequence[str], validate: bool):
    paths = np.asarray([os.fspath(p) for p in paths])
    if not validate:
        return np.arange(len(paths)), paths, np.ones(len(paths), dtype=bool)
    check = check_images(paths)
    kept = check.kept
    native = np.asarray([k == NATIVE for k in check.kinds], dtype=bool)
    return kept, paths, native


def _loader(paths: np.ndarray, native: np.ndarray, image_size):
    table_p, table_n = tf.constant(paths), tf.constant(native)

    def load(i):
        return decode_resize(
            read_image_file(tf.gather(table_p, i), tf.gather(table_n, i)), image_size
        )

    return load


def balanced_pair_indices(
    labels: np.ndarray, batch_size: int, positive_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One batch of index pairs ``(i1, i2, y)``: ``round(positive_fraction * batch_size)`` positives.

    Positives: a random image of an identity with >= 2 images and another image of it.
    Negatives: two images of two different identities (uniform over images).
    """
    n_pos = int(round(positive_fraction * batch_size))
    n_neg = batch_size - n_pos
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
    multi = np.flatnonzero(np.asarray([len(m) >= 2 for m in members]))
    if n_pos and len(multi) == 0:
        raise ValueError("positive pairs need an identity with at least 2 images: none has")
    if n_neg and len(classes) < 2:
        raise ValueError("negative pairs need at least 2 identities, got 1")
    first, second = [], []
    # positives: images of multi-image identities, uniform over those images
    pos_pool = np.concatenate([members[c] for c in multi]) if len(multi) else np.zeros(0, np.int64)
    for a in rng.choice(pos_pool, n_pos) if n_pos else []:
        m = members[inverse[a]]
        b = rng.choice(m[m != a])
        first.append(a)
        second.append(b)
    for _ in range(n_neg):
        a = rng.integers(len(labels))
        while True:
            b = rng.integers(len(labels))
            if inverse[b] != inverse[a]:
                break
        first.append(a)
        second.append(b)
    y = np.asarray([1] * n_pos + [0] * n_neg, dtype=np.float32)
    perm = rng.permutation(batch_size)
    return np.asarray(first, np.int64)[perm], np.asarray(second, np.int64)[perm], y[perm]


def pair_dataset(
    paths: Sequence[str],
    labels: Sequence[Any],
    image_size: Sequence[int],
    batch_size: int = 32,
    positive_fraction: float = 0.5,
    seed: int | None = None,
    augment: Callable | None = None,
    batches_per_epoch: int | str | None = "auto",
    validate: bool = True,
) -> tf.data.Dataset:
    """Balanced pairs: ``((x1 uint8 (B,h,w,3), x2 uint8 (B,h,w,3)), y float32 (B,))``.

    Args:
        paths: image paths.
        labels: identity per path.
        image_size: (height, width).
        batch_size: pairs per batch.
        positive_fraction: fraction of same-identity pairs in every batch (0.5: 50 % / 50 %).
        seed: seed of the pair draws.
        augment: callable applied to ``x1`` and ``x2`` batches.
        batches_per_epoch: ``"auto"`` (``len(paths) // batch_size``, at least 1), an int, or
            None (infinite).
        validate: check files first, drop unreadable ones (counted, warned).

    Returns:
        ``tf.data.Dataset`` of ``((x1, x2), y)`` with ``y = 1`` same identity, ``0`` different.
    """
    image_size = _validate_image_size(image_size)
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(paths) != len(labels):
        raise ValueError(
            f"paths and labels must have the same length, got {len(paths)} and {len(labels)}"
        )
    int_labels, _ = encode_labels(labels)
    kept, all_paths, native = _checked(paths, validate)
    if len(kept) == 0:
        raise ValueError("pair_dataset(paths): no readable image")
    kept_labels = int_labels[kept]
    bpe = max(1, len(kept) // batch_size) if batches_per_epoch == "auto" else batches_per_epoch
    rng = np.random.default_rng(seed)
    balanced_pair_indices(
        kept_labels, batch_size, positive_fraction, rng
    )  # fails early on bad data
    rng = np.random.default_rng(seed)

    def gen():
        count = 0
        while bpe is None or count < bpe:
            i1, i2, y = balanced_pair_indices(kept_labels, batch_size, positive_fraction, rng)
            yield kept[i1], kept[i2], y
            count += 1

    spec = (tf.TensorSpec((batch_size,), tf.int64),) * 2 + (
        tf.TensorSpec((batch_size,), tf.float32),
    )
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec).unbatch()
    load = _loader(all_paths, native, image_size)
    ds = ds.map(
        lambda a, b, y: ((load(a), load(b)), y),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.apply(tf.data.experimental.assert_cardinality(_cardinality(bpe)))
    if augment is not None:
        ds = ds.map(
            lambda x, y: ((augment(x[0]), augment(x[1])), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def fixed_pair_dataset(
    paths1: Sequence[str],
    paths2: Sequence[str],
    is_same: Sequence[bool],
    image_size: Sequence[int],
    batch_size: int = 32,
    validate: bool = True,
) -> tf.data.Dataset:
    """Given pairs in order (e.g. :func:`~embedding_net.data.datasets.lfw.read_lfw_pairs`):
    ``((x1, x2), y float32)``. Pairs with an unreadable image are dropped (warned, counted)."""
    image_size = _validate_image_size(image_size)
    if not (len(paths1) == len(paths2) == len(is_same)):
        raise ValueError("paths1, paths2 and is_same must have the same length")
    both = list(paths1) + list(paths2)
    kept, all_paths, native = _checked(both, validate)
    ok = np.zeros(len(both), dtype=bool)
    ok[kept] = True
    n = len(paths1)
    pair_ok = ok[:n] & ok[n:]
    i1 = np.flatnonzero(pair_ok)
    i2 = i1 + n
    y = np.asarray(is_same, dtype=np.float32)[pair_ok]
    load = _loader(all_paths, native, image_size)
    ds = tf.data.Dataset.from_tensor_slices((i1, i2, y))
    ds = ds.map(
        lambda a, b, t: ((load(a), load(b)), t),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def random_triplet_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` int64 (anchor, positive, negative) indices: anchor and positive share a label
    (different images), the negative has another label."""
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
    multi = [c for c in range(len(classes)) if len(members[c]) >= 2]
    if not multi:
        raise ValueError("triplets need an identity with at least 2 images: none has")
    if len(classes) < 2:
        raise ValueError("triplets need at least 2 identities, got 1")
    pool = np.concatenate([members[c] for c in multi])
    out = np.empty((n, 3), dtype=np.int64)
    for row, a in enumerate(rng.choice(pool, n)):
        m = members[inverse[a]]
        p = rng.choice(m[m != a])
        while True:
            q = rng.integers(len(labels))
            if inverse[q] != inverse[a]:
                break
        out[row] = (a, p, q)
    return out


def _csv_triplets(source, image_root, validate: bool, shuffle: bool, seed):
    """``(dataset of (3,) int64 path indices, paths, native)`` of the rows of a triplets CSV."""
    rows = (
        read_triplets_csv(source, image_root) if not isinstance(source, TripletRecords) else source
    )
    flat = rows.anchors + rows.positives + rows.negatives
    kept, all_paths, native = _checked(flat, validate)
    ok = np.zeros(len(flat), dtype=bool)
    ok[kept] = True
    n = len(rows)
    good = np.flatnonzero(ok[:n] & ok[n : 2 * n] & ok[2 * n :])
    if len(good) == 0:
        raise ValueError(f"triplet_dataset({source!r}): no triplet with three readable images")
    triplets = np.stack([good, good + n, good + 2 * n], axis=1)
    ds = tf.data.Dataset.from_tensor_slices(triplets)
    if shuffle:
        ds = ds.shuffle(len(triplets), seed=seed, reshuffle_each_iteration=True)
    return ds, all_paths, native


def _random_triplets(source, labels, validate: bool, batch_size: int, batches_per_epoch, seed):
    """``(dataset of (3,) int64 path indices, paths, native, batches per epoch)`` of random
    triplets drawn from ``labels``."""
    if labels is None:
        raise ValueError("labels is required when source is a list of paths")
    paths = list(source)
    if len(paths) != len(labels):
        raise ValueError(
            f"paths and labels must have the same length, got {len(paths)} and {len(labels)}"
        )
    int_labels, _ = encode_labels(labels)
    kept, all_paths, native = _checked(paths, validate)
    kept_labels = int_labels[kept]
    random_triplet_indices(kept_labels, 1, np.random.default_rng(0))  # validates early
    bpe = max(1, len(kept) // batch_size) if batches_per_epoch == "auto" else batches_per_epoch
    rng = np.random.default_rng(seed)

    def gen() -> Iterator[np.ndarray]:
        count = 0
        while bpe is None or count < bpe:
            yield kept[random_triplet_indices(kept_labels, batch_size, rng)]
            count += 1

    ds = tf.data.Dataset.from_generator(
        gen, output_signature=tf.TensorSpec((batch_size, 3), tf.int64)
    ).unbatch()
    return ds, all_paths, native, bpe


def triplet_dataset(
    source: Any,
    labels: Sequence[Any] | None = None,
    image_size: Sequence[int] = (224, 224),
    batch_size: int = 32,
    seed: int | None = None,
    augment: Callable | None = None,
    image_root: str | os.PathLike | None = None,
    shuffle: bool = True,
    batches_per_epoch: int | str | None = "auto",
    validate: bool = True,
) -> tf.data.Dataset:
    """Triplet batches as an x-only dataset: ``((anchor, positive, negative),)``, each uint8 (B, h, w, 3).

    Args:
        source: a list of image paths (random triplets drawn from ``labels``), a triplets CSV
            path (columns Anchor,Positive,Negative) or a
            :class:`~embedding_net.data.datasets.triplets_csv.TripletRecords`.
        labels: identity per path (paths source only).
        image_size: (height, width).
        batch_size: triplets per batch.
        seed: seed of the triplet draws / CSV row shuffling.
        augment: callable applied to each of the three image batches.
        image_root: folder the CSV paths are relative to (default: the CSV's folder).
        shuffle: shuffle CSV rows each epoch.
        batches_per_epoch: random triplets only: ``"auto"`` (``len(paths) // batch_size``), an
            int or None (infinite).
        validate: check files first; triplets with an unreadable image are dropped (warned).

    Returns:
        ``tf.data.Dataset`` yielding 1-tuples ``((a, p, n),)``: Keras ``fit`` reads them as x
        without y.
    """
    image_size = _validate_image_size(image_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    bpe = None
    if isinstance(source, (str, os.PathLike)) or isinstance(source, TripletRecords):
        ds, all_paths, native = _csv_triplets(source, image_root, validate, shuffle, seed)
    else:
        ds, all_paths, native, bpe = _random_triplets(
            source, labels, validate, batch_size, batches_per_epoch, seed
        )
    load = _loader(all_paths, native, image_size)
    ds = ds.map(
        lambda t: (load(t[0]), load(t[1]), load(t[2])),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    from_csv = isinstance(source, (str, os.PathLike, TripletRecords))
    ds = ds.batch(batch_size, drop_remainder=not from_csv)
    if not from_csv:
        ds = ds.apply(tf.data.experimental.assert_cardinality(_cardinality(bpe)))
    if augment is not None:
        ds = ds.map(
            lambda a, p, n: (augment(a), augment(p), augment(n)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    ds = ds.map(lambda a, p, n: ((a, p, n),))
    return ds.prefetch(tf.data.AUTOTUNE)


__all__ = [
    "balanced_pair_indices",
    "fixed_pair_dataset",
    "pair_dataset",
    "random_triplet_indices",
    "triplet_dataset",
]
