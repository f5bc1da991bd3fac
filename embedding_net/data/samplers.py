"""Identity-balanced P x K batches: P identities, K images each, from files or TFRecord shards.

The sampler draws *indices* with a seeded ``np.random.Generator`` from the labels (and cameras,
tracklets) only; images are read on demand: from the files, or from the TFRecord shards by byte
offset (:class:`~embedding_net.data.tfrecords.TFRecordIndex`). The dataset is never materialised.

Rules:

* every batch holds exactly ``P`` distinct identities and ``K`` images of each, in identity-major
  order (``labels[k*K:(k+1)*K]`` are one identity), so the batch shape is static ``(P*K, ...)``;
* identities are visited in shuffled rounds (each identity once per round, so all appear
  equally often); the images of an identity are drawn without replacement when it has at
  least ``K`` of them (successive visits walk through a shuffled queue of its images);
* **an identity with fewer than K images is sampled with replacement** (its images repeat in the
  batch; a one-image identity gives K copies of that image);
* ``camera_aware``: the K images are drawn round-robin over the identity's cameras, so they come
  from at least 2 cameras whenever the identity has 2 and ``K >= 2`` (each visit draws a fresh
  round-robin order, instead of the queue);
* ``tracklet_aware``: the K images are drawn round-robin over the identity's tracklets (and over
  cameras first when ``camera_aware`` too), for video re-id (MARS);
* the same seed gives the same batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from embedding_net.data.images import _cardinality, _validate_image_size, split_augment
from embedding_net.data.indexed_images import image_files, read_file_images, read_shard_records
from embedding_net.data.tfrecords import TFRecordIndex


def _round_robin(groups: list[list[int]]) -> list[int]:
    out = []
    depth = max((len(g) for g in groups), default=0)
    for d in range(depth):
        for g in groups:
            if d < len(g):
                out.append(g[d])
    return out


def _draw_round_robin(order: list[int], ids: np.ndarray, n: int, rng) -> list[int]:
    """``n`` distinct ids taken from ``order`` (a shuffled round of ``ids``, refilled when
    empty; updated in place). A new round's ids already chosen for this batch wait at the end
    of it, so every id appears once per round."""
    chosen: list[int] = []
    while len(chosen) < n:
        if not order:
            fresh = [int(c) for c in ids[rng.permutation(len(ids))]]
            order.extend([c for c in fresh if c not in chosen] + [c for c in fresh if c in chosen])
        c = order.pop(0)
        if c in chosen:
            order.append(c)
            continue
        chosen.append(c)
    return chosen


class PKSampler:
    """Draw index batches of P identities x K images.

    Args:
        P: identities per batch (>= 1).
        K: images per identity (>= 1).
        camera_aware: spread the K images over the identity's cameras.
        tracklet_aware: spread the K images over the identity's tracklets.
        seed: seed of the ``np.random.Generator``; the same seed gives the same batches.
        singles: extra images per batch from identities with a single image, one image of a
            different such identity each (drawn in shuffled rounds): negatives for every
            anchor, never a positive pair. With ``singles > 0`` the P identities are drawn
            among the identities with two or more images only. 0 (default): an identity with
            fewer than K images is one of the P and fills its K slots with repeats.
    """

    def __init__(
        self,
        P: int,
        K: int,
        camera_aware: bool = False,
        tracklet_aware: bool = False,
        seed: int | None = None,
        singles: int = 0,
    ):
        if int(P) < 1:
            raise ValueError(f"P must be >= 1, got {P}")
        if int(K) < 1:
            raise ValueError(f"K must be >= 1, got {K}")
        if int(singles) != singles or int(singles) < 0:
            raise ValueError(f"singles must be an integer >= 0, got {singles!r}")
        self.P, self.K, self.singles = int(P), int(K), int(singles)
        self.camera_aware = bool(camera_aware)
        self.tracklet_aware = bool(tracklet_aware)
        self.seed = seed

    @property
    def batch_size(self) -> int:
        return self.P * self.K + self.singles

    def _groups(self, idx: np.ndarray, cameras, tracklets, rng) -> list[int]:
        """Order the images of one identity: random, or round-robin over cameras/tracklets."""
        idx = idx[rng.permutation(len(idx))]
        if not (self.camera_aware or self.tracklet_aware):
            return idx.tolist()

        def split(ids: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
            uniq = np.unique(keys)
            groups = [ids[keys == k] for k in uniq]
            return [groups[i] for i in rng.permutation(len(groups))]

        if self.camera_aware:
            cam_groups = split(idx, cameras[idx])
            if self.tracklet_aware:
                cam_groups = [
                    np.asarray(_round_robin([g.tolist() for g in split(c, tracklets[c])]))
                    for c in cam_groups
                ]
            return _round_robin([g.tolist() for g in cam_groups])
        return _round_robin([g.tolist() for g in split(idx, tracklets[idx])])

    def indices(
        self,
        labels: Sequence[int],
        cameras: Sequence[int] | None = None,
        tracklets: Sequence[int] | None = None,
    ) -> Iterator[np.ndarray]:
        """Infinite iterator of int64 index arrays ``(P*K + singles,)`` into ``labels``.

        Args:
            labels: int labels (n,).
            cameras: int camera ids (n,), needed when ``camera_aware``.
            tracklets: int tracklet ids (n,), needed when ``tracklet_aware``.
        """
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) == 0:
            raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
        if self.camera_aware:
            if cameras is None:
                raise ValueError("camera_aware=True needs cameras (one camera id per image)")
            cameras = np.asarray(cameras)
            if cameras.shape != labels.shape:
                raise ValueError(f"cameras must have shape {labels.shape}, got {cameras.shape}")
        if self.tracklet_aware:
            if tracklets is None:
                raise ValueError("tracklet_aware=True needs tracklets (one tracklet id per image)")
            tracklets = np.asarray(tracklets)
            if tracklets.shape != labels.shape:
                raise ValueError(f"tracklets must have shape {labels.shape}, got {tracklets.shape}")
        classes, inverse = np.unique(labels, return_inverse=True)
        members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
        pool = np.arange(len(classes))
        single_ids = np.zeros(0, dtype=np.int64)
        if self.singles:
            counts = np.bincount(inverse, minlength=len(classes))
            pool, single_ids = np.flatnonzero(counts >= 2), np.flatnonzero(counts == 1)
            if len(single_ids) < self.singles:
                raise ValueError(
                    f"singles={self.singles} one-image identities per batch, but the data holds "
                    f"only {len(single_ids)} identities with a single image"
                )
        if len(pool) < self.P:
            which = " with two or more images" if self.singles else ""
            raise ValueError(
                f"P={self.P} identities per batch, but the data holds only {len(pool)} "
                f"identities{which}"
            )
        # per-identity queue of images still to draw (without replacement until exhausted)
        queues: list[list[int]] = [[] for _ in classes]
        rng = np.random.default_rng(self.seed)
        order: list[int] = []
        single_order: list[int] = []
        aware = self.camera_aware or self.tracklet_aware
        while True:
            chosen = _draw_round_robin(order, pool, self.P, rng)
            singles = _draw_round_robin(single_order, single_ids, self.singles, rng)
            batch = []
            for c in chosen:
                idx = members[c]
                if len(idx) < self.K:
                    # fewer than K images: all of them, the rest drawn with replacement
                    ordered = self._groups(idx, cameras, tracklets, rng)
                    extra = rng.choice(idx, self.K - len(idx), replace=True).tolist()
                    batch.extend(ordered + extra)
                    continue
                if aware:
                    # spread over cameras/tracklets: a fresh round-robin order at every visit
                    batch.extend(self._groups(idx, cameras, tracklets, rng)[: self.K])
                    continue
                if len(queues[c]) < self.K:
                    queues[c] = self._groups(idx, cameras, tracklets, rng)
                batch.extend(queues[c][: self.K])
                queues[c] = queues[c][self.K :]
            batch.extend(int(members[c][0]) for c in singles)
            yield np.asarray(batch, dtype=np.int64)

    def _index_dataset(self, labels, cameras, tracklets, batches_per_epoch) -> tf.data.Dataset:
        state: dict[str, Iterator] = {}

        def gen():
            # one draw stream for every iterator of the dataset (epochs, fit calls); next()
            # rather than ``yield from``, which would close the stream with this generator
            it = state.setdefault("it", self.indices(labels, cameras, tracklets))
            count = 0
            while batches_per_epoch is None or count < batches_per_epoch:
                yield next(it)
                count += 1

        return tf.data.Dataset.from_generator(
            gen, output_signature=tf.TensorSpec((self.batch_size,), tf.int64)
        )

    def dataset(
        self,
        source: Any,
        image_size: Sequence[int],
        labels: Sequence[Any] | None = None,
        cameras: Sequence[int] | None = None,
        tracklets: Sequence[int] | None = None,
        augment: Callable | None = None,
        split: str = "train",
        batches_per_epoch: int | str | None = "auto",
        validate: bool = True,
    ) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of ``(uint8 images (B, h, w, 3), int32 labels (B,))``,
        ``B = P*K + singles``.

        Args:
            source: a folder written by ``write_tfrecords`` (or a
                :class:`~embedding_net.data.tfrecords.TFRecordIndex`), a list of
                ``ImageRecord`` / ``(path, label[, metadata])`` items, or a list of paths (then
                ``labels`` is required).
            image_size: (height, width).
            labels, cameras, tracklets: per-path values for a list of paths (cameras/tracklets
                are read from the records' metadata otherwise).
            augment: callable on uint8 batches.
            split: the TFRecord split to sample from.
            batches_per_epoch: ``"auto"`` (``n_images // B``, at least 1), an int, or None
                (infinite: give ``steps_per_epoch`` to ``fit``).
            validate: for files, check them once and drop unreadable ones (counted, warned).

        Returns:
            ``tf.data.Dataset`` whose batches have the static shape ``(B, h, w, 3)``.
        """
        image_size = _validate_image_size(image_size)
        n = self.batch_size
        per_image, per_batch = split_augment(augment)
        if isinstance(source, (str, os.PathLike, TFRecordIndex)):
            index = (
                source if isinstance(source, TFRecordIndex) else TFRecordIndex(Path(source), split)
            )
            bpe = _batches_per_epoch(batches_per_epoch, len(index.labels), n)
            ds = self._index_dataset(index.labels, index.cameras, index.tracklets, bpe)
            ds = read_shard_records(ds, index, image_size, per_image)
        else:
            files = image_files(source, labels, cameras, tracklets, validate)
            bpe = _batches_per_epoch(batches_per_epoch, len(files.labels), n)
            ds = self._index_dataset(files.labels, files.cameras, files.tracklets, bpe)
            ds = read_file_images(ds, files, image_size, per_image)
        ds = ds.batch(n, drop_remainder=True)
        ds = ds.apply(tf.data.experimental.assert_cardinality(_cardinality(bpe)))
        if per_batch is not None:
            ds = ds.map(
                lambda x, y: (per_batch(x), y),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        return ds.prefetch(tf.data.AUTOTUNE)


def _batches_per_epoch(value, n_images: int, batch: int) -> int | None:
    if value is None:
        return None
    if value == "auto":
        return max(1, n_images // batch)
    if int(value) < 1:
        raise ValueError(f"batches_per_epoch must be 'auto', None or >= 1, got {value!r}")
    return int(value)


def pk_batches(
    source: Any,
    P: int,
    K: int,
    image_size: Sequence[int],
    labels: Sequence[Any] | None = None,
    cameras: Sequence[int] | None = None,
    tracklets: Sequence[int] | None = None,
    augment: Callable | None = None,
    camera_aware: bool = False,
    tracklet_aware: bool = False,
    seed: int | None = None,
    split: str = "train",
    batches_per_epoch: int | str | None = "auto",
    validate: bool = True,
    singles: int = 0,
) -> tf.data.Dataset:
    """P x K batches ``(uint8 images (P*K, h, w, 3), int32 labels (P*K,))``: see :class:`PKSampler`
    (``singles`` one-image identities add as many images to each batch).

    ``source`` is a TFRecord folder (streamed from the shards by byte offset), a list of
    ``ImageRecord`` / ``(path, label[, metadata])`` items, or a list of paths with ``labels``.
    Labels of in-memory sources are remapped to ``0..N-1`` (sorted distinct labels); TFRecord
    labels are the manifest's.
    """
    sampler = PKSampler(
        P, K, camera_aware=camera_aware, tracklet_aware=tracklet_aware, seed=seed, singles=singles
    )
    return sampler.dataset(
        source,
        image_size,
        labels=labels,
        cameras=cameras,
        tracklets=tracklets,
        augment=augment,
        split=split,
        batches_per_epoch=batches_per_epoch,
        validate=validate,
    )
