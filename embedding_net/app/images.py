"""Image bytes in and out of the app: checked upload decoding and index thumbnails.

Uploaded images are decoded exactly like :func:`embedding_net.data.load_images` decodes the
files of an index (TensorFlow for JPEG/PNG/BMP/GIF, Pillow conversion to 8-bit RGB for other
formats, bilinear resize to the network's input size), so a query identical to an indexed file
gets the same embedding as that file.
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np

logger = logging.getLogger(__name__)


class ImageRejected(ValueError):
    """A request the service refuses; ``status`` is the HTTP status code to answer with.

    Attributes:
        status: 413 (upload larger than the byte limit), 422 (empty, not an image, corrupt,
            too many pixels, bad parameter), 404 (unknown item id) or 500 (the network gave a
            non-finite embedding).
        message: what was wrong, naming the field and the limit.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


def decode_upload(
    data: bytes, image_shape, max_upload_bytes: int, max_pixels: int, field: str = "image"
) -> np.ndarray:
    """Check and decode uploaded bytes to the network's input: uint8 ``(h, w, c)``.

    Args:
        data: the uploaded file's bytes.
        image_shape: ``(height, width, channels)`` of the network's input.
        max_upload_bytes: larger uploads are refused with 413.
        max_pixels: images with more pixels are refused with 422 before they are decoded.
        field: the form field name, used in error messages.

    Raises:
        ImageRejected: 422 empty / not an image / corrupt / too many pixels; 413 too large.
    """
    from PIL import Image, UnidentifiedImageError

    from embedding_net.data.images import BROKEN, NATIVE, inspect_image_bytes, to_png_rgb8

    if data is None or len(data) == 0:
        raise ImageRejected(422, f"{field}: the uploaded file is empty (0 bytes)")
    if len(data) > max_upload_bytes:
        raise ImageRejected(
            413,
            f"{field}: the upload is {len(data):,} bytes, larger than the limit of "
            f"{max_upload_bytes:,} bytes",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except Image.DecompressionBombError as exc:
            raise ImageRejected(422, f"{field}: image has too many pixels ({exc})") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageRejected(
                422,
                f"{field}: not an image file Pillow can read (expected JPEG, PNG, BMP, GIF, "
                "TIFF, WebP, ...)",
            ) from None
        if width * height > max_pixels:
            raise ImageRejected(
                422,
                f"{field}: the image is {width} x {height} = {width * height:,} pixels, more "
                f"than the limit of {max_pixels:,} pixels",
            )
        kind, reason = inspect_image_bytes(data)
    if kind == BROKEN:
        raise ImageRejected(422, f"{field}: corrupt or truncated image ({reason})")
    contents = data if kind == NATIVE else to_png_rgb8(data)
    return _decode_resize(contents, image_shape, field)


def _decode_resize(contents: bytes, image_shape, field: str) -> np.ndarray:
    import tensorflow as tf

    from embedding_net.data.images import decode_resize

    h, w, c = image_shape
    try:
        image = decode_resize(tf.constant(contents), (h, w), channels=c)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        raise ImageRejected(422, f"{field}: the image cannot be decoded ({exc.message})") from None
    return image.numpy()


def thumbnail_png(path, size: int, max_pixels: int, item_id: int) -> bytes:
    """PNG bytes of the image at ``path``, longest side ``size`` (small images upscaled).

    Raises:
        ImageRejected: 404 when the file has too many pixels or cannot be read.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > max_pixels:
                    raise ImageRejected(404, f"image of item {item_id} is too large to show")
                picture = img.convert("RGB")
        picture.thumbnail((size, size))
        if max(picture.size) < size:  # upscale small images (sharp pixels)
            scale = size / max(picture.size)
            size = (
                max(1, round(picture.size[0] * scale)),
                max(1, round(picture.size[1] * scale)),
            )
            picture = picture.resize(size, Image.NEAREST)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        # the exception text names the file's absolute path: log it, answer without it
        logger.warning("thumbnail of item %d: %s", item_id, exc)
        raise ImageRejected(404, f"image of item {item_id} cannot be read") from None
    return buffer.getvalue()


def tsne_map_points(embeddings, fields: dict, max_points: int, seed: int, max_iter: int) -> dict:
    """The app's 2-D map: t-SNE of (a seeded subset of at most ``max_points``) embeddings.

    Args:
        embeddings: float array (n, dim) of the index.
        fields: ``{"labels" | "names" | "paths": list (n,) or None}`` shown with each point.
        max_points, seed, max_iter: subset size, seed (subset and t-SNE), t-SNE iterations.

    Returns:
        ``{"ids": int list, "x": [...], "y": [...], "labels": [...], "names": [...],
        "paths": [...], "total": n}``.
    """
    from embedding_net.visualization.tsne import tsne_embed

    n = len(embeddings)
    ids = np.arange(n)
    if n > max_points:
        rng = np.random.default_rng(seed)
        ids = np.sort(rng.choice(n, size=max_points, replace=False))
    if len(ids) == 1:
        points = np.zeros((1, 2), np.float32)
    else:
        points = tsne_embed(embeddings[ids], seed=seed, max_iter=max_iter)
    out = {"ids": ids.tolist(), "x": points[:, 0].astype(float).tolist()}
    out["y"] = points[:, 1].astype(float).tolist()
    for key in ("labels", "names", "paths"):
        values = fields.get(key)
        out[key] = [None if values is None else values[i] for i in ids]
    out["total"] = n
    return out
