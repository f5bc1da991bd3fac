"""Image files -> uint8 RGB tensors: checking, converting, decoding, resizing, batching.

Bad input never crashes an epoch: files are checked once, before a dataset is built
(:func:`check_images`). Files TensorFlow decodes natively (8-bit JPEG / PNG / BMP / GIF, grey,
RGB or RGBA) are read as they are; files it cannot decode (16-bit PNG, CMYK JPEG, PPM/PGM, TIFF,
palette-less exotic modes) are converted to 8-bit RGB with Pillow; files that cannot be decoded
at all (corrupt, truncated, not an image, missing) are skipped, counted, and named in a warning.

Images come out as ``uint8`` ``(height, width, 3)`` in 0..255: models in this library rescale
inside the network. Labels come out as ``int32``.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from embedding_net.data.labels import encode_labels

logger = logging.getLogger(__name__)

NATIVE = "native"
CONVERT = "convert"
BROKEN = "broken"

_NATIVE_FORMATS = {
    "JPEG": {"RGB", "L"},
    "PNG": {"RGB", "RGBA", "L", "LA", "P"},
    "BMP": {"RGB", "L", "P"},
    "GIF": {"P", "L", "RGB", "RGBA"},
}


class ImageCheck(NamedTuple):
    """Result of :func:`check_images`.

    Attributes:
        kinds: list of str per path: ``"native"`` (TensorFlow decodes it), ``"convert"`` (Pillow
            converts it to 8-bit RGB) or ``"broken"`` (skipped).
        errors: dict path -> reason, for the broken files.
    """

    kinds: list[str]
    errors: dict[str, str]

    @property
    def kept(self) -> np.ndarray:
        """int64 indices of the usable paths."""
        return np.asarray([i for i, k in enumerate(self.kinds) if k != BROKEN], dtype=np.int64)


def _validate_image_size(image_size: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (height, width), got {image_size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size must be positive (height, width), got {image_size!r}")
    return h, w


def _cardinality(batches_per_epoch: int | None) -> int:
    """The cardinality a dataset of ``batches_per_epoch`` batches asserts (None: infinite, so
    ``fit`` reads it as such and asks for ``steps_per_epoch``)."""
    return tf.data.INFINITE_CARDINALITY if batches_per_epoch is None else batches_per_epoch


def inspect_image_bytes(data: bytes) -> tuple[str, str | None]:
    """Classify encoded image bytes as ``native``, ``convert`` or ``broken`` (fully decoding them).

    Returns:
        (kind, reason) with reason set for broken data.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, mode = img.format, img.mode
            img.load()
    except Exception as exc:  # any decoder failure (bombs, struct errors...) means "skip"
        return BROKEN, f"{type(exc).__name__}: {exc}"
    if fmt in _NATIVE_FORMATS and mode in _NATIVE_FORMATS[fmt]:
        return NATIVE, None
    return CONVERT, None


def _inspect_path(path: str) -> tuple[str, str | None]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return BROKEN, f"{type(exc).__name__}: {exc}"
    if not data:
        return BROKEN, "empty file"
    return inspect_image_bytes(data)


def to_rgb8(data: bytes) -> np.ndarray:
    """Decode any Pillow-readable image bytes to uint8 RGB ``(h, w, 3)``.

    16-bit images are scaled to 8 bits (``>> 8``); alpha is dropped; grey is repeated.
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
            arr = np.asarray(img, dtype=np.int64)
            maxval = 65535 if arr.max(initial=0) > 255 else 255
            arr = (arr * 255 // max(maxval, 1)).clip(0, 255).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=-1)
        if img.mode == "F":
            arr = np.nan_to_num(np.asarray(img, dtype=np.float32)).clip(0, 255).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=-1)
        if (
            img.mode == "RGBA"
            or img.mode == "LA"
            or (img.mode == "P" and "transparency" in img.info)
        ):
            img = img.convert("RGBA")
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def to_png_rgb8(data: bytes) -> bytes:
    """Re-encode any Pillow-readable image bytes as an 8-bit RGB PNG (see :func:`to_rgb8`)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(to_rgb8(data)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def check_images(
    paths: Sequence[str], num_workers: int | None = None, warn: bool = True
) -> ImageCheck:
    """Decode every file once with Pillow to find broken and non-native files.

    Args:
        paths: image paths.
        num_workers: threads (default: CPU count).
        warn: log a warning counting and naming the broken files.

    Returns:
        :class:`ImageCheck`.
    """
    paths = [os.fspath(p) for p in paths]
    workers = num_workers or os.cpu_count() or 1
    if len(paths) > 64 and workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(_inspect_path, paths, chunksize=32))
    else:
        results = [_inspect_path(p) for p in paths]
    kinds = [k for k, _ in results]
    errors = {p: r for p, (k, r) in zip(paths, results) if k == BROKEN}
    if errors and warn:
        shown = "; ".join(f"{p} ({r})" for p, r in list(errors.items())[:20])
        more = f" and {len(errors) - 20} more" if len(errors) > 20 else ""
        logger.warning(
            "%d of %d image(s) skipped (unreadable): %s%s", len(errors), len(paths), shown, more
        )
    n_convert = kinds.count(CONVERT)
    if n_convert:
        logger.info("%d image(s) will be converted to 8-bit RGB with Pillow", n_convert)
    return ImageCheck(kinds, errors)


def decode_resize(contents: tf.Tensor, image_size: tuple[int, int], channels: int = 3) -> tf.Tensor:
    """Decode encoded image bytes and resize (bilinear) to ``image_size``.

    Args:
        contents: scalar string tensor (JPEG/PNG/BMP/GIF bytes).
        image_size: (height, width).
        channels: 3 (RGB) or 1 (grey).

    Returns:
        uint8 tensor ``(height, width, channels)``.
    """
    image = tf.io.decode_image(contents, channels=channels, expand_animations=False, dtype=tf.uint8)
    image = tf.image.resize(image, image_size, method="bilinear")
    image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    image.set_shape((image_size[0], image_size[1], channels))
    return image


def _convert_py(path: bytes) -> bytes:
    with open(path.decode() if isinstance(path, bytes) else path, "rb") as f:
        return to_png_rgb8(f.read())


def read_image_file(path: tf.Tensor, native: tf.Tensor) -> tf.Tensor:
    """Read a file's bytes; non-native files are converted to PNG RGB8 by Pillow (numpy_function)."""
    return tf.cond(
        native,
        lambda: tf.io.read_file(path),
        lambda: tf.reshape(tf.numpy_function(_convert_py, [path], tf.string, stateful=False), []),
    )


def split_augment(augment: Callable | None) -> tuple[Callable | None, Callable | None]:
    """``(per_image, per_batch)`` parts of ``augment``.

    An :class:`~embedding_net.data.augment.AugmentationPipeline` runs its leading flips per
    image (fused into decoding) and the rest per batch; any other callable runs per batch.
    """
    if augment is None:
        return None, None
    if not callable(augment):
        raise ValueError(
            f"augment must be callable (e.g. augmentation_pipeline(...)), got {augment!r}"
        )
    per_image = getattr(augment, "per_image", None)
    per_batch = getattr(augment, "per_batch", None)
    if per_image is not None and per_batch is not None:
        return per_image, (per_batch if augment.has_batch_part else None)
    return None, augment


def apply_augment(
    dataset: tf.data.Dataset, augment: Callable | None, num_parallel_calls=tf.data.AUTOTUNE
) -> tf.data.Dataset:
    """Map a per-batch augmentation over the image part of a batched ``(images, labels)`` dataset."""
    if augment is None:
        return dataset
    return dataset.map(lambda x, y: (augment(x), y), num_parallel_calls=num_parallel_calls)


def image_dataset(
    paths: Sequence[str],
    labels: Sequence[Any],
    image_size: Sequence[int],
    batch_size: int = 32,
    augment: Callable | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
    validate: bool = True,
    label_map: dict | None = None,
    channels: int = 3,
) -> tf.data.Dataset:
    """Build a ``tf.data.Dataset`` of ``(uint8 images (B, h, w, 3), int32 labels (B,))`` from files.

    Labels are remapped to ``0..N-1`` with :func:`~embedding_net.data.labels.encode_labels`
    (sorted distinct labels, or the given ``label_map``); call that function on the same labels
    to get the map.

    Args:
        paths: image file paths.
        labels: one label per path (any hashable).
        image_size: (height, width) of the output images.
        batch_size: images per batch.
        augment: callable on uint8 image batches (e.g. :func:`augmentation_pipeline`), or None.
        shuffle: shuffle the files each epoch (seeded).
        seed: shuffle seed.
        drop_remainder: drop the last incomplete batch (static batch shape).
        repeat: repeat forever.
        validate: decode every file once with Pillow first (:func:`check_images`); broken files
            are skipped, counted and named in a warning. With False, files are not checked and
            elements failing to decode are dropped by ``ignore_errors`` (logged by TensorFlow).
        label_map: optional ``{label: int}`` map.
        channels: 3 for RGB.

    Returns:
        ``tf.data.Dataset`` of ``(images, labels)``.
    """
    image_size = _validate_image_size(image_size)
    paths = [os.fspath(p) for p in paths]
    labels = list(labels)
    if len(paths) != len(labels):
        raise ValueError(
            f"paths and labels must have the same length, got {len(paths)} and {len(labels)}"
        )
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    int_labels, _ = encode_labels(labels, label_map)
    if validate:
        check = check_images(paths)
        kept = check.kept
        native = np.asarray([check.kinds[i] == NATIVE for i in kept], dtype=bool)
    else:
        kept = np.arange(len(paths))
        native = np.ones(len(paths), dtype=bool)
    if len(kept) == 0:
        raise ValueError("image_dataset(paths): no readable image among the given paths")
    ds = tf.data.Dataset.from_tensor_slices(
        (np.asarray([paths[i] for i in kept]), native, int_labels[kept])
    )
    if shuffle:
        ds = ds.shuffle(len(kept), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    per_image, per_batch = split_augment(augment)

    def load(path, is_native, label):
        image = decode_resize(read_image_file(path, is_native), image_size, channels)
        return (per_image(image) if per_image else image), label

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if not validate:
        ds = ds.ignore_errors(log_warning=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = apply_augment(ds, per_batch)
    return ds.prefetch(tf.data.AUTOTUNE)


class LoadedImages(NamedTuple):
    """Result of :func:`load_images`: ``images`` uint8 (n_kept, h, w, 3) and ``kept`` int indices."""

    images: np.ndarray
    kept: np.ndarray


def load_images(
    paths: Sequence[str], image_size: Sequence[int] = (224, 224), channels: int = 3
) -> LoadedImages:
    """Load image files into memory as a uint8 array (for small sets: evaluation, galleries).

    Broken files are skipped and counted with a warning naming them; ``kept`` says which paths
    the rows of ``images`` come from.

    Args:
        paths: image file paths.
        image_size: (height, width).
        channels: 3 (RGB) or 1.

    Returns:
        :class:`LoadedImages` (images uint8 (n, h, w, channels), kept int64 (n,)).
    """
    image_size = _validate_image_size(image_size)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        return LoadedImages(
            np.zeros((0, *image_size, channels), np.uint8), np.zeros((0,), np.int64)
        )
    check = check_images(paths)
    kept = check.kept
    if len(kept) == 0:
        return LoadedImages(np.zeros((0, *image_size, channels), np.uint8), kept)
    native = np.asarray([check.kinds[i] == NATIVE for i in kept], dtype=bool)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray([paths[i] for i in kept]), native))
    ds = ds.map(
        lambda p, n: decode_resize(read_image_file(p, n), image_size, channels),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).batch(256)
    images = np.concatenate([b.numpy() for b in ds], axis=0)
    return LoadedImages(images, kept)
