"""TFRecord readers: batches streamed from the shards, and random access by index.

:func:`read_tfrecords` interleaves the shards of a split into ``(uint8 images, int32
labels)`` batches; :class:`TFRecordIndex` reads any record by its byte range (the
``<split>-index.npz`` written with the shards), which the P x K samplers use.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from embedding_net.data.images import (
    _validate_image_size,
    apply_augment,
    decode_resize,
    split_augment,
)
from embedding_net.data.tfrecords.manifest import MANIFEST, existing_outputs, verify_split

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "camera": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "tracklet": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
}


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialized example into ``image/encoded``, ``label``, ``camera``, ``tracklet``."""
    return tf.io.parse_single_example(serialized, _FEATURES)


def _shard_files(pattern_or_dir: str | os.PathLike, split: str, checksums) -> list[str]:
    path = Path(pattern_or_dir)
    if path.is_dir():
        if (path / MANIFEST).is_file() or existing_outputs(path):
            manifest = verify_split(path, split, checksums)
            files = [str(path / n) for n in manifest["splits"][split]["shards"]]
        else:
            files = []
    else:
        files = sorted(glob.glob(str(pattern_or_dir)))
    if not files:
        raise FileNotFoundError(f"no TFRecord shard found for {pattern_or_dir} (split={split!r})")
    return files


def read_tfrecords(
    pattern_or_dir: str | os.PathLike,
    image_size: Sequence[int],
    augment: Callable | None = None,
    batch_size: int = 32,
    split: str = "train",
    shuffle: bool = True,
    seed: int | None = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    shuffle_buffer: int = 2048,
    with_metadata: bool = False,
    checksums: bool | None = None,
) -> tf.data.Dataset:
    """Read shards sequentially (interleaved) into batches of ``(uint8 images, int32 labels)``.

    Args:
        pattern_or_dir: a folder written by :func:`write_tfrecords`, or a glob of shard files.
        image_size: (height, width) of the output images.
        augment: callable on uint8 batches (e.g. :func:`augmentation_pipeline`).
        batch_size: images per batch.
        split: which split's shards to read when given a folder.
        shuffle: shuffle shard order and records (buffer of ``shuffle_buffer``).
        seed: shuffle seed.
        repeat: repeat forever.
        drop_remainder: static batch size.
        with_metadata: yield ``(images, {"label", "camera", "tracklet"})`` instead of labels.
        checksums: for a folder, check the shards' SHA-256 against the manifest (True),
            never (False), or when they total at most 1 GiB (None); sizes and record counts
            are always checked (:func:`~embedding_net.data.tfrecords.manifest.verify_split`).
            A glob is read as given, unchecked.

    Returns:
        ``tf.data.Dataset``.

    Raises:
        TFRecordSetError: a folder whose set is incomplete (no manifest: its writer was
            stopped) or differs from its manifest; the message names the file.
    """
    image_size = _validate_image_size(image_size)
    files = _shard_files(pattern_or_dir, split, checksums)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None or not shuffle,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    per_image, per_batch = split_augment(augment)

    def load(serialized):
        ex = parse_example(serialized)
        image = decode_resize(ex["image/encoded"], image_size)
        if per_image is not None:
            image = per_image(image)
        label = tf.cast(ex["label"], tf.int32)
        if with_metadata:
            return image, {
                "label": label,
                "camera": tf.cast(ex["camera"], tf.int32),
                "tracklet": tf.cast(ex["tracklet"], tf.int32),
            }
        return image, label

    ds = ds.map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None or not shuffle
    )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = apply_augment(ds, per_batch)
    return ds.prefetch(tf.data.AUTOTUNE)


class TFRecordIndex:
    """Random access to the records of one split (labels, cameras, tracklets + byte ranges).

    Built from the ``<split>-index.npz`` written with the shards; only these small arrays are
    held in memory, images are read from the shards on demand (:meth:`fetch`).

    Args:
        directory: folder written by :func:`write_tfrecords`.
        split: ``"train"`` or ``"val"``.
        checksums: check the files' SHA-256 (True, False, or None: when they total at most
            1 GiB); sizes and record counts are always checked.

    Raises:
        FileNotFoundError: no manifest and no shard in ``directory``.
        TFRecordSetError: the set is incomplete or differs from its manifest.
    """

    def __init__(
        self, directory: str | os.PathLike, split: str = "train", checksums: bool | None = None
    ):
        self.directory = Path(directory)
        manifest = verify_split(directory, split, checksums)
        info = manifest["splits"][split]
        self.manifest = manifest
        self.split = split
        self.shards = [str(self.directory / n) for n in info["shards"]]
        with np.load(self.directory / info["index"]) as z:
            self.labels = z["label"]
            self.cameras = z["camera"]
            self.tracklets = z["tracklet"]
            self.shard = z["shard"]
            self.offset = z["offset"]
            self.length = z["length"]

    def __len__(self) -> int:
        return len(self.labels)

    def _read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty(len(indices), dtype=object)
        fds: dict[int, int] = {}
        try:
            for j, i in enumerate(indices):
                s = int(self.shard[i])
                if s not in fds:
                    fds[s] = os.open(self.shards[s], os.O_RDONLY)
                out[j] = os.pread(fds[s], int(self.length[i]), int(self.offset[i]))
        finally:
            for fd in fds.values():
                os.close(fd)
        return out

    def fetch(self, indices: tf.Tensor) -> tf.Tensor:
        """Serialized examples of ``indices`` (int64 tensor (n,)) -> string tensor (n,)."""
        out = tf.numpy_function(self._read, [indices], tf.string, stateful=False)
        return tf.reshape(out, tf.shape(indices))
