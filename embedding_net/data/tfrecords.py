"""Sharded TFRecords: writer (parallel encoding, identity split, manifest) and readers.

Layout written by :func:`write_tfrecords` into ``output_dir``::

    manifest.json                 label map, counts, shards, skipped files, options
    train-00000-of-00004.tfrecord ...
    val-00000-of-00001.tfrecord   (when val_fraction > 0 or the records carry a "val" split)
    train-index.npz, val-index.npz   per-record label, camera, tracklet, shard, byte offset, length

Each record is a ``tf.train.Example`` with ``image/encoded`` (JPEG/PNG bytes, 8-bit, decodable by
TensorFlow), ``image/format``, ``label`` (int64, remapped), ``camera`` and ``tracklet`` (int64, -1
when unknown), ``path`` (original path) and ``label/name`` (original identity).

The label map puts the training identities first: training labels are ``0..N_train-1``
(contiguous, ready for a classification head) and validation-only identities follow.

The index files give each record's byte position in its shard, so samplers read any record
directly (:class:`TFRecordIndex`), streaming from the shards without loading the dataset.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from embedding_net.data.adapters import ImageRecord
from embedding_net.data.images import (
    BROKEN,
    NATIVE,
    _validate_image_size,
    apply_augment,
    decode_resize,
    inspect_image_bytes,
    split_augment,
    to_rgb8,
)

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SPLIT_BY = ("identity", "tracklet", "image", "given")
_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "camera": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "tracklet": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
}


def _as_record(item: Any) -> ImageRecord:
    if isinstance(item, ImageRecord):
        return item
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        meta = dict(item[2]) if len(item) == 3 and item[2] else {}
        return ImageRecord(os.fspath(item[0]), item[1], meta)
    raise ValueError(f"records must hold (path, label) or (path, label, metadata), got {item!r}")


def _int_meta(meta: dict, key: str) -> int:
    value = meta.get(key)
    return -1 if value is None else int(value)


def _split_records(
    records: list[ImageRecord], val_fraction: float, split_by: str, rng: np.random.Generator
) -> dict[str, list[ImageRecord]]:
    if split_by == "given":
        out: dict[str, list[ImageRecord]] = {}
        for rec in records:
            out.setdefault(rec.metadata.get("split") or "train", []).append(rec)
        return out
    if val_fraction <= 0:
        return {"train": list(records)}
    if split_by == "identity":
        keys = [str(r.label) for r in records]
    elif split_by == "tracklet":
        keys = [f"{r.label}\0{r.metadata.get('tracklet')}" for r in records]
    else:
        keys = [str(i) for i in range(len(records))]
    groups = sorted(set(keys))
    n_val = int(round(val_fraction * len(groups)))
    n_val = min(max(n_val, 1), len(groups) - 1) if len(groups) > 1 else 0
    val_groups = set(rng.permutation(np.asarray(groups, dtype=object))[:n_val].tolist())
    split = {"train": [], "val": []}
    for rec, key in zip(records, keys):
        split["val" if key in val_groups else "train"].append(rec)
    if not split["val"]:
        del split["val"]
    return split


def _encode_one(
    path: str, image_size: tuple[int, int] | None
) -> tuple[str, bytes | None, str | None]:
    """Read and check one file; return (status, bytes, reason). Bytes are TF-decodable, 8-bit."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return BROKEN, None, f"{type(exc).__name__}: {exc}"
    if not data:
        return BROKEN, None, "empty file"
    kind, reason = inspect_image_bytes(data)
    if kind == BROKEN:
        return BROKEN, None, reason
    if kind == NATIVE and image_size is None:
        return kind, data, None
    import io

    array = to_rgb8(data)
    img = Image.fromarray(array)
    if image_size is not None:
        img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
    out = io.BytesIO()
    if data[:3] == b"\xff\xd8\xff":
        img.save(out, format="JPEG", quality=95)
    else:
        img.save(out, format="PNG", compress_level=1)
    return kind, out.getvalue(), None


def _ordered_map(pool: ThreadPoolExecutor, fn: Callable, items: list, window: int) -> Iterable:
    """``pool.map`` with at most ``window`` items in flight (bounded memory on large datasets)."""
    from collections import deque

    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _example(data: bytes, label: int, camera: int, tracklet: int, path: str, name: str) -> bytes:
    fmt = b"jpeg" if data[:3] == b"\xff\xd8\xff" else b"png"

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    feature = {
        "image/encoded": b(data),
        "image/format": b(fmt),
        "label": i(label),
        "camera": i(camera),
        "tracklet": i(tracklet),
        "path": b(path.encode()),
        "label/name": b(name.encode()),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _existing_outputs(output_dir: Path) -> list[Path]:
    if not output_dir.exists():
        return []
    return sorted(
        [
            p
            for p in output_dir.iterdir()
            if p.name == MANIFEST or p.suffix == ".tfrecord" or p.name.endswith("-index.npz")
        ]
    )


def write_tfrecords(
    records: Iterable[Any],
    output_dir: str | os.PathLike,
    num_shards: int = 4,
    val_fraction: float = 0.0,
    split_by: str = "identity",
    overwrite: bool = False,
    num_workers: int | None = None,
    image_size: Sequence[int] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Write images to sharded TFRecord files with a JSON manifest and a byte-offset index.

    Args:
        records: :class:`~embedding_net.data.adapters.ImageRecord` items or ``(path, label[,
            metadata])`` tuples. Metadata keys used: ``camera``, ``tracklet``, ``split``.
        output_dir: folder to write into (created).
        num_shards: shards for the training split; the validation split gets
            ``max(1, round(num_shards * val_fraction))``.
        val_fraction: fraction of groups (identities, tracklets or images, see ``split_by``)
            held out for validation.
        split_by: ``"identity"`` (no identity in both splits), ``"tracklet"`` (no (identity,
            tracklet) group in both: e.g. GTSRB tracks), ``"image"`` (random images) or
            ``"given"`` (use each record's ``metadata["split"]``, e.g. ``train/`` and ``val/``
            folders).
        overwrite: replace an existing manifest/shards in ``output_dir``; otherwise raise.
        num_workers: encoding threads (default: CPU count).
        image_size: optional (height, width): store images resized (faster reading later).
        seed: seed of the split and of the record order within the shards.
        progress: show a tqdm progress bar.

    Returns:
        the manifest dict (also written to ``output_dir/manifest.json``).

    Raises:
        FileExistsError: ``output_dir`` holds a manifest or shards and ``overwrite`` is False.
        ValueError: bad argument, or no readable image.
    """
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if int(num_shards) < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    size = _validate_image_size(image_size) if image_size is not None else None
    output_dir = Path(output_dir)
    existing = _existing_outputs(output_dir)
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds TFRecords ({existing[0].name}, ...): pass overwrite=True "
            "(--overwrite) to replace them"
        )
    records = [_as_record(r) for r in records]
    if not records:
        raise ValueError("write_tfrecords(records): no record given")
    rng = np.random.default_rng(seed)
    splits = _split_records(records, val_fraction, split_by, rng)
    output_dir.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink()

    # label map: training identities first (0..N_train-1), then the others
    def sort_key(x):
        return (str(type(x)), x)

    train_labels = sorted({r.label for r in splits.get("train", [])}, key=sort_key)
    other = sorted(
        {r.label for recs in splits.values() for r in recs} - set(train_labels), key=sort_key
    )
    label_names = train_labels + other
    label_map = {lab: i for i, lab in enumerate(label_names)}

    workers = num_workers or os.cpu_count() or 1
    skipped: dict[str, str] = {}
    manifest_splits = {}
    total = sum(len(v) for v in splits.values())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"tfrecords -> {output_dir}", unit="img")
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for split_name in sorted(splits, key=lambda s: (s != "train", s)):
            recs = splits[split_name]
            order = rng.permutation(len(recs))
            recs = [recs[i] for i in order]
            n_sh = (
                num_shards
                if split_name == "train"
                else max(1, int(round(num_shards * max(val_fraction, 0.25))))
            )
            n_sh = min(n_sh, len(recs))
            shard_names = [f"{split_name}-{k:05d}-of-{n_sh:05d}.tfrecord" for k in range(n_sh)]
            writers = [tf.io.TFRecordWriter(str(output_dir / n)) for n in shard_names]
            positions = [0] * n_sh
            index = {k: [] for k in ("label", "camera", "tracklet", "shard", "offset", "length")}
            results = _ordered_map(pool, lambda r: _encode_one(r.path, size), recs, 4 * workers)
            n_written = 0
            for rec, (status, data, reason) in zip(recs, results):
                if bar is not None:
                    bar.update(1)
                if status == BROKEN:
                    skipped[rec.path] = reason
                    continue
                shard = n_written % n_sh
                label = label_map[rec.label]
                camera = _int_meta(rec.metadata, "camera")
                tracklet = _int_meta(rec.metadata, "tracklet")
                payload = _example(data, label, camera, tracklet, rec.path, str(rec.label))
                writers[shard].write(payload)
                index["label"].append(label)
                index["camera"].append(camera)
                index["tracklet"].append(tracklet)
                index["shard"].append(shard)
                index["offset"].append(positions[shard] + 12)
                index["length"].append(len(payload))
                positions[shard] += 16 + len(payload)
                n_written += 1
            for w in writers:
                w.close()
            np.savez(
                output_dir / f"{split_name}-index.npz",
                label=np.asarray(index["label"], np.int32),
                camera=np.asarray(index["camera"], np.int32),
                tracklet=np.asarray(index["tracklet"], np.int32),
                shard=np.asarray(index["shard"], np.int32),
                offset=np.asarray(index["offset"], np.int64),
                length=np.asarray(index["length"], np.int64),
            )
            labels_arr = np.asarray(index["label"], np.int64)
            ids, counts = np.unique(labels_arr, return_counts=True)
            manifest_splits[split_name] = {
                "shards": shard_names,
                "index": f"{split_name}-index.npz",
                "num_images": int(n_written),
                "num_identities": int(len(ids)),
                "images_per_identity": {str(int(i)): int(c) for i, c in zip(ids, counts)},
            }
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    if skipped:
        shown = "; ".join(f"{p} ({r})" for p, r in list(skipped.items())[:20])
        logger.warning(
            "write_tfrecords: %d of %d image(s) skipped (unreadable): %s",
            len(skipped),
            total,
            shown,
        )
    if sum(s["num_images"] for s in manifest_splits.values()) == 0:
        raise ValueError(f"write_tfrecords(records): none of the {total} image(s) is readable")
    manifest = {
        "format": "embedding_net.tfrecords/1",
        "num_images": int(sum(s["num_images"] for s in manifest_splits.values())),
        "num_identities": len(label_names),
        "label_map": {str(k): v for k, v in label_map.items()},
        "label_names": [str(k) for k in label_names],
        "splits": manifest_splits,
        "split_by": split_by,
        "val_fraction": val_fraction,
        "seed": seed,
        "image_size": list(size) if size else None,
        "skipped": skipped,
        "seconds": round(elapsed, 3),
    }
    with open(output_dir / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict:
    """Load ``directory/manifest.json`` (FileNotFoundError naming the path when absent)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: write the TFRecords with write_tfrecords first"
        )
    with open(path) as f:
        return json.load(f)


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialized example into ``image/encoded``, ``label``, ``camera``, ``tracklet``."""
    return tf.io.parse_single_example(serialized, _FEATURES)


def _shard_files(pattern_or_dir: str | os.PathLike, split: str) -> list[str]:
    path = Path(pattern_or_dir)
    if path.is_dir():
        manifest_path = path / MANIFEST
        if manifest_path.is_file():
            manifest = read_manifest(path)
            if split not in manifest["splits"]:
                raise ValueError(
                    f"split={split!r} not in {manifest_path} (has {sorted(manifest['splits'])})"
                )
            files = [str(path / n) for n in manifest["splits"][split]["shards"]]
        else:
            files = sorted(glob.glob(str(path / f"{split}-*.tfrecord")))
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

    Returns:
        ``tf.data.Dataset``.
    """
    image_size = _validate_image_size(image_size)
    files = _shard_files(pattern_or_dir, split)
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
    """

    def __init__(self, directory: str | os.PathLike, split: str = "train"):
        self.directory = Path(directory)
        manifest = read_manifest(directory)
        if split not in manifest["splits"]:
            raise ValueError(
                f"split={split!r} not in {self.directory / MANIFEST} (has {sorted(manifest['splits'])})"
            )
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
