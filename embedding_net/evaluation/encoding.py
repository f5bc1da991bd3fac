"""Encoding images with a network, a Keras model or a plain function; flip test-time augmentation."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from embedding_net.evaluation._inputs import check_positive_int, l2_normalize, to_numpy

__all__ = ["encode_images", "encode_with_flip"]


def encode_images(network_or_fn, images, batch_size: int = 64) -> np.ndarray:
    """Embeddings of images, in batches.

    Uses ``network.encode(images, batch_size=...)`` when the object has it (BaseNetwork,
    SiameseModel, TripletModel), else ``model.predict(images, batch_size=..., verbose=0)``,
    else calls ``network_or_fn(batch)`` on each batch (any function of a numpy batch returning
    an array or tensor).

    Args:
        network_or_fn: model with ``encode`` / ``predict``, or a callable.
        images: array (n, height, width, channels) or any input the model accepts.
        batch_size: images per forward pass.

    Returns:
        float32 numpy array (n, dim).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    encode = getattr(network_or_fn, "encode", None)
    if callable(encode):
        params = inspect.signature(encode).parameters
        kwargs = {}
        if "batch_size" in params:
            kwargs["batch_size"] = batch_size
        if "verbose" in params:
            kwargs["verbose"] = 0
        out = encode(images, **kwargs)
    elif callable(getattr(network_or_fn, "predict", None)):
        out = network_or_fn.predict(images, batch_size=batch_size, verbose=0)
    elif callable(network_or_fn):
        fn: Callable = network_or_fn
        n = len(images)
        parts = [
            to_numpy(fn(images[i : i + batch_size]), "output") for i in range(0, n, batch_size)
        ]
        out = np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), np.float32)
    else:
        raise ValueError(
            "`network_or_fn` must have an `encode` or `predict` method or be callable, got "
            f"{type(network_or_fn).__name__}."
        )
    out = to_numpy(out, "embeddings")
    return out.astype(np.float32, copy=False)


def encode_with_flip(network_or_fn, images, batch_size: int = 64, normalize: bool = True):
    """Flip test-time augmentation: mean of the embeddings of each image and its mirror image.

    ``e = (f(x) + f(flip_lr(x))) / 2``, then L2-normalised (``normalize=True``), the usual
    re-id / face evaluation trick.

    Args:
        network_or_fn: as in :func:`encode_images`.
        images: array (n, height, width, channels), channels last (width = axis 2).
        batch_size: images per forward pass.
        normalize: L2-normalise the averaged embedding.

    Returns:
        float32 numpy array (n, dim).
    """
    images = to_numpy(images, "images")
    if images.ndim != 4:
        raise ValueError(
            f"`images` must have shape (n, height, width, channels), got {images.shape}."
        )
    plain = encode_images(network_or_fn, images, batch_size)
    flipped = encode_images(network_or_fn, np.ascontiguousarray(images[:, :, ::-1, :]), batch_size)
    mean = (plain + flipped) / 2.0
    return l2_normalize(mean) if normalize else mean
