"""TFRecord writer: parallel encoding, the train/val split, shards, index files and manifest.

See :mod:`embedding_net.data.tfrecords` for the files written and the record format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from embedding_net.atomic import atomic_path
from embedding_net.data.datasets.base import ImageRecord
from embedding_net.data.images import (
    BROKEN,
    NATIVE,
    _validate_image_size,
    inspect_image_bytes,
    to_rgb8,
)
from embedding_net.data.tfrecords.manifest import (
    FORMAT,
    existing_outputs,
    file_entry,
    remove_outputs,
    write_manifest,
)

logger = logging.getLogger(__name__)

SPLIT_BY = ("identity", "tracklet", "image", "given")


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


def _label_names(splits: dict[str, list[ImageRecord]]) -> list:
    """Label order of the label map: training identities first (0..N_train-1), then the others."""

    def sort_key(x):
        return (str(type(x)), x)

    train_labels = sorted({r.label for r in splits.get("train", [])}, key=sort_key)
    other = sorted(
        {r.label for recs in splits.values() for r in recs} - set(train_labels), key=sort_key
    )
    return train_labels + other


class _SplitWriter:
    """Writes the records of one split to its shards and ``<split>-index.npz``.

    Args:
        output_dir: the output folder.
        label_map: ``{original label: int}`` of every split.
        size: ``(height, width)`` the images are resized to, or None.
        skipped: ``{path: reason}`` the unreadable files are added to.
        bar: tqdm progress bar or None.
    """

    def __init__(self, output_dir: Path, label_map: dict, size, skipped: dict, bar):
        self.output_dir = output_dir
        self.label_map = label_map
        self.size = size
        self.skipped = skipped
        self.bar = bar

    def write(self, pool, workers: int, split_name: str, recs: list, n_sh: int) -> dict:
        """Encode ``recs`` (in this order) into ``n_sh`` shards; the split's manifest entry.

        Each shard and the index are written under a temporary name and renamed into place
        once complete (all of them, after the last record); the entry lists each file's
        record count, size and SHA-256 for the manifest, which is written last."""
        shard_names = [f"{split_name}-{k:05d}-of-{n_sh:05d}.tfrecord" for k in range(n_sh)]
        index_name = f"{split_name}-index.npz"
        with contextlib.ExitStack() as renames:
            temporary = [
                renames.enter_context(atomic_path(self.output_dir / n)) for n in shard_names
            ]
            writers = [tf.io.TFRecordWriter(str(t)) for t in temporary]
            results = _ordered_map(
                pool, lambda r: _encode_one(r.path, self.size), recs, 4 * workers
            )
            try:
                index = self._write_records(recs, results, writers)
            finally:
                for w in writers:
                    w.close()
            index_tmp = renames.enter_context(atomic_path(self.output_dir / index_name))
            wide = ("offset", "length")
            np.savez(
                index_tmp,
                **{k: np.asarray(v, np.int64 if k in wide else np.int32) for k, v in index.items()},
            )
            per_shard = np.bincount(np.asarray(index["shard"], np.int64), minlength=n_sh)
            files = [
                file_entry(t, int(c), name) for t, c, name in zip(temporary, per_shard, shard_names)
            ]
            files.append(file_entry(index_tmp, None, index_name))
        ids, counts = np.unique(np.asarray(index["label"], np.int64), return_counts=True)
        return {
            "shards": shard_names,
            "index": index_name,
            "num_images": len(index["label"]),
            "num_identities": int(len(ids)),
            "images_per_identity": {str(int(i)): int(c) for i, c in zip(ids, counts)},
            "files": files,
        }

    def _write_records(self, recs: list, results: Iterable, writers: list) -> dict:
        """Write the readable records round-robin over ``writers``; their index columns."""
        n_sh = len(writers)
        positions = [0] * n_sh
        index = {k: [] for k in ("label", "camera", "tracklet", "shard", "offset", "length")}
        n_written = 0
        for rec, (status, data, reason) in zip(recs, results):
            if self.bar is not None:
                self.bar.update(1)
            if status == BROKEN:
                self.skipped[rec.path] = reason
                continue
            shard = n_written % n_sh
            label = self.label_map[rec.label]
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
        return index


def _check_arguments(split_by: str, val_fraction: float, num_shards: int) -> None:
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if int(num_shards) < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")


def _num_shards(split_name: str, n_records: int, num_shards: int, val_fraction: float) -> int:
    n_sh = (
        num_shards
        if split_name == "train"
        else max(1, int(round(num_shards * max(val_fraction, 0.25))))
    )
    return min(n_sh, n_records)


def _write_splits(splits, output_dir, label_map, size, workers, rng, num_shards, val_fraction, bar):
    """Write every split (train first); ``(manifest splits, skipped files)``."""
    skipped: dict[str, str] = {}
    writer = _SplitWriter(output_dir, label_map, size, skipped, bar)
    manifest_splits = {}
    with ThreadPoolExecutor(workers) as pool:
        for split_name in sorted(splits, key=lambda s: (s != "train", s)):
            recs = splits[split_name]
            order = rng.permutation(len(recs))
            recs = [recs[i] for i in order]
            n_sh = _num_shards(split_name, len(recs), num_shards, val_fraction)
            manifest_splits[split_name] = writer.write(pool, workers, split_name, recs, n_sh)
    return manifest_splits, skipped


def _refuse_existing(output_dir: Path, overwrite: bool) -> list[Path]:
    """The TFRecord files already in ``output_dir``; FileExistsError unless ``overwrite``."""
    existing = existing_outputs(output_dir)
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds TFRecords ({existing[0].name}, ...): pass overwrite=True "
            "(--overwrite) to replace them"
        )
    return existing


def _progress_bar(progress: bool, total: int, output_dir: Path):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"tfrecords -> {output_dir}", unit="img")


def _report_skipped(skipped: dict, total: int, manifest_splits: dict) -> None:
    """Warn about the unreadable files; ValueError when no image at all was written."""
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
        records: :class:`~embedding_net.data.ImageRecord` items or ``(path, label[,
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
        the manifest dict, written to ``output_dir/manifest.json`` last, once every file is
        renamed into place (see :mod:`~embedding_net.data.tfrecords.manifest`).

    Raises:
        FileExistsError: ``output_dir`` holds a manifest or shards and ``overwrite`` is False.
        ValueError: bad argument, or no readable image.
    """
    _check_arguments(split_by, val_fraction, num_shards)
    size = _validate_image_size(image_size) if image_size is not None else None
    output_dir = Path(output_dir)
    existing = _refuse_existing(output_dir, overwrite)
    records = [_as_record(r) for r in records]
    if not records:
        raise ValueError("write_tfrecords(records): no record given")
    rng = np.random.default_rng(seed)
    splits = _split_records(records, val_fraction, split_by, rng)
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_outputs(existing)
    label_names = _label_names(splits)
    label_map = {lab: i for i, lab in enumerate(label_names)}
    workers = num_workers or os.cpu_count() or 1
    total = sum(len(v) for v in splits.values())
    bar = _progress_bar(progress, total, output_dir)
    start = time.perf_counter()
    manifest_splits, skipped = _write_splits(
        splits, output_dir, label_map, size, workers, rng, num_shards, val_fraction, bar
    )
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    _report_skipped(skipped, total, manifest_splits)
    manifest = {
        "format": FORMAT,
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
    return write_manifest(output_dir, manifest)
