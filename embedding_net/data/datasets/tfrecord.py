"""TFRecord shards written by :func:`embedding_net.data.write_tfrecords` (layout ``tfrecord``).

The records of such a folder are placeholders: ``path`` is ``"<dir>#<split>/<position>"``, the
label, camera and tracklet come from the ``<split>-index.npz`` files, and the images stay in
the shards (:func:`read_shard_images` reads them; training streams them with
:func:`embedding_net.data.pk_batches`). TensorFlow is imported only when images are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedding_net.data.datasets.base import ImageRecord, Listing


def list_tfrecord_records(root: str | Path) -> list[ImageRecord]:
    """Placeholder records of a TFRecord folder: labels/cameras/splits from its index files.

    Args:
        root: folder written by :func:`~embedding_net.data.write_tfrecords`.

    Returns:
        list of :class:`ImageRecord` in split order (manifest order) then shard position;
        ``path = "<root>#<split>/<i>"``, label = the stored int label, metadata ``{"split",
        "camera", "tracklet", "position"}`` (``-1`` where the source had no camera/tracklet).

    Raises:
        FileNotFoundError: ``root`` holds no ``manifest.json``.
    """
    from embedding_net.data.tfrecords import TFRecordIndex, read_manifest

    manifest = read_manifest(root)
    records = []
    for split in manifest["splits"]:
        index = TFRecordIndex(root, split)
        for i in range(len(index)):
            meta = {
                "split": split,
                "camera": int(index.cameras[i]),
                "tracklet": int(index.tracklets[i]),
                "position": i,
            }
            records.append(ImageRecord(f"{root}#{split}/{i}", int(index.labels[i]), meta))
    return records


def is_shard_record(record: ImageRecord) -> bool:
    """True for a placeholder record of :func:`list_tfrecord_records` (image in a shard)."""
    return "#" in record.path and "position" in record.metadata


def read_shard_images(records: Sequence[ImageRecord], image_size: Sequence[int]) -> np.ndarray:
    """uint8 images ``(n, h, w, 3)`` of placeholder records, read from their shards.

    Args:
        records: records of :func:`list_tfrecord_records` (any folders and splits, any order).
        image_size: ``(height, width)`` the images are resized to.

    Returns:
        uint8 array ``(len(records), height, width, 3)`` in the order of ``records``.
    """
    import tensorflow as tf

    from embedding_net.data.images import decode_resize
    from embedding_net.data.tfrecords import TFRecordIndex, parse_example

    out = np.zeros((len(records), *image_size, 3), np.uint8)
    by_split = defaultdict(list)
    for row, r in enumerate(records):
        by_split[r.path.split("#")[0], r.metadata["split"]].append((row, r.metadata["position"]))
    for (root, split), items in by_split.items():
        index = TFRecordIndex(root, split)
        rows = np.asarray([i for i, _ in items])
        positions = np.asarray([p for _, p in items], np.int64)
        for start in range(0, len(rows), 256):
            serialized = index.fetch(tf.constant(positions[start : start + 256]))
            images = tf.map_fn(
                lambda s: decode_resize(parse_example(s)["image/encoded"], tuple(image_size)),
                serialized,
                fn_output_signature=tf.uint8,
            )
            out[rows[start : start + 256]] = images.numpy()
    return out


def listing(source: Path, people_file: str | None = None) -> Listing:
    """The ``tfrecord`` layout: :func:`list_tfrecord_records` of ``source``."""
    return Listing(list_tfrecord_records(source))
