"""Images read by record index inside ``tf.data``: from TFRecord shards or from image files.

The P x K sampler (:mod:`embedding_net.data.samplers`) draws record *indices*; the functions
here turn a dataset of index batches into a dataset of ``(uint8 image (h, w, 3), int32
label)`` elements, reading each image on demand.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from embedding_net.data.datasets.base import ImageRecord
from embedding_net.data.images import NATIVE, check_images, decode_resize, read_image_file
from embedding_net.data.labels import encode_labels
from embedding_net.data.tfrecords import TFRecordIndex, parse_example


class ImageFiles(NamedTuple):
    """Image files with their int labels and optional cameras / tracklets.

    Attributes:
        paths: str array (n,).
        labels: int32 array (n,), ``0..N-1``.
        cameras, tracklets: int64 arrays (n,) or None.
        native: bool array (n,), True where TensorFlow decodes the file as it is.
    """

    paths: np.ndarray
    labels: np.ndarray
    cameras: np.ndarray | None
    tracklets: np.ndarray | None
    native: np.ndarray


def _records_arrays(source, labels, cameras, tracklets):
    items = list(source)
    if not items:
        raise ValueError("source: no image given")
    if labels is None:
        recs = [
            r
            if isinstance(r, ImageRecord)
            else ImageRecord(os.fspath(r[0]), r[1], dict(r[2]) if len(r) > 2 and r[2] else {})
            for r in items
        ]
        paths = [r.path for r in recs]
        labels = [r.label for r in recs]
        if cameras is None and all("camera" in r.metadata for r in recs):
            cameras = [r.metadata["camera"] for r in recs]
        if tracklets is None and all(r.metadata.get("tracklet") is not None for r in recs):
            tracklets = [r.metadata["tracklet"] for r in recs]
    else:
        paths = [os.fspath(p) for p in items]
        if len(labels) != len(paths):
            raise ValueError(f"labels must have one entry per path: {len(labels)} != {len(paths)}")
    int_labels, _ = encode_labels(labels)
    cams = None if cameras is None else np.asarray(cameras, dtype=np.int64)
    tracks = None if tracklets is None else np.asarray(tracklets, dtype=np.int64)
    return np.asarray(paths), int_labels, cams, tracks


def image_files(
    source: Sequence[Any],
    labels: Sequence[Any] | None,
    cameras: Sequence[int] | None,
    tracklets: Sequence[int] | None,
    validate: bool,
) -> ImageFiles:
    """The :class:`ImageFiles` of records / ``(path, label[, metadata])`` items or paths.

    Args:
        source: ``ImageRecord`` s, ``(path, label[, metadata])`` tuples, or paths (then
            ``labels`` is required).
        labels, cameras, tracklets: per-path values for a list of paths.
        validate: check every file once and drop the unreadable ones (counted, warned).

    Raises:
        ValueError: no image given, or none readable.
    """
    paths, int_labels, cams, tracks = _records_arrays(source, labels, cameras, tracklets)
    native = np.ones(len(paths), dtype=bool)
    if validate:
        check = check_images(paths)
        kept = check.kept
        native = np.asarray([k == NATIVE for k in check.kinds], dtype=bool)[kept]
        paths = paths[kept]
        int_labels = int_labels[kept]
        cams = cams[kept] if cams is not None else None
        tracks = tracks[kept] if tracks is not None else None
        if len(paths) == 0:
            raise ValueError("pk_batches(source): no readable image")
    return ImageFiles(paths, int_labels, cams, tracks, native)


def read_file_images(
    indices: tf.data.Dataset, files: ImageFiles, image_size, per_image: Callable | None
) -> tf.data.Dataset:
    """Index batches -> ``(image, label)`` elements read from ``files`` (order kept)."""
    table = (tf.constant(files.paths), tf.constant(files.native), tf.constant(files.labels))

    def load(i):
        image = decode_resize(
            read_image_file(tf.gather(table[0], i), tf.gather(table[1], i)), image_size
        )
        return (per_image(image) if per_image is not None else image), tf.gather(table[2], i)

    return indices.unbatch().map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def read_shard_records(
    indices: tf.data.Dataset, index: TFRecordIndex, image_size, per_image: Callable | None
) -> tf.data.Dataset:
    """Index batches -> ``(image, label)`` elements read from the shards of ``index``."""
    labels = index.labels

    def read(idx):
        return index.fetch(idx), tf.gather(tf.constant(labels), idx)

    def decode(serialized, label):
        image = decode_resize(parse_example(serialized)["image/encoded"], image_size)
        return (per_image(image) if per_image is not None else image), label

    ds = indices.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.unbatch().map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
