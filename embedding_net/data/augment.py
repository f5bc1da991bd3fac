"""Data augmentation run inside tf.data, on uint8 image batches, on every Keras backend.

:func:`augmentation_pipeline` chains Keras preprocessing layers (they run with TensorFlow ops
inside ``tf.data`` whatever the Keras backend). Presets:

* ``"reid"``: horizontal flip, pad 10 px (reflect) + random crop back to size (a window of its
  own for every image), random erasing.
* ``"faces"``: horizontal flip, small rotation / translation / zoom, colour jitter.
* ``"signs"``: no flip (a flipped sign changes meaning), rotation, translation, zoom, colour jitter.
* ``"default"``: flip, translation, brightness/contrast jitter, random erasing.
* ``"flip"``: horizontal flip only (the cheapest useful pipeline).

``randaugment=True`` adds Keras' ``RandAugment`` (2 ops, magnitude 0.5); a number for
``erasing_probability`` adds random erasing to any preset.
:class:`AlbumentationsAdapter` wraps an ``albumentations.Compose`` (extra ``aug``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

PRESETS = ("default", "reid", "faces", "signs", "flip")


def _is_horizontal_flip(layer) -> bool:
    return isinstance(layer, keras.layers.RandomFlip) and layer.mode == "horizontal"


class AugmentationPipeline:
    """Callable applying Keras preprocessing layers to uint8 images, returning uint8 images.

    Leading ``RandomFlip("horizontal")`` layers are executed directly on uint8 tensors (each
    image mirrored with probability 0.5, as the Keras layer does) and the readers of this
    package run them per image inside their decoding step (:meth:`per_image`), the rest per
    batch (:meth:`per_batch`): this halves the cost of the common "decode + resize + flip"
    pipeline. Reflect padding is symmetric, so a flip commutes with it.

    Args:
        layers: Keras preprocessing layers (value range 0..255), applied in order with
            ``training=True``.
        pad: pixels of reflect padding added before the layers that follow the leading flips
            (used with a ``RandomCrop``).
        name: preset name, for ``repr``.
        seed: seed of the uint8 flips.

    Call:
        images: uint8 tensor ``(batch, h, w, 3)`` or ``(h, w, 3)``.
        Returns uint8 tensor of the same shape.
    """

    def __init__(
        self,
        layers: Sequence[keras.layers.Layer],
        pad: int = 0,
        name: str = "custom",
        seed: int | None = None,
    ):
        self.layers = list(layers)
        self.pad = int(pad)
        self.name = name
        self.seed = seed
        n = 0
        while n < len(self.layers) and _is_horizontal_flip(self.layers[n]):
            n += 1
        self._n_flips = n

    def __repr__(self) -> str:
        names = ", ".join(type(layer).__name__ for layer in self.layers)
        return f"AugmentationPipeline({self.name!r}, pad={self.pad}, layers=[{names}])"

    @property
    def has_batch_part(self) -> bool:
        """Whether anything is left for :meth:`per_batch` after the leading flips."""
        return bool(self.pad) or self._n_flips < len(self.layers)

    def per_image(self, image):
        """The leading horizontal flips on one uint8 image ``(h, w, c)``."""
        for _ in range(self._n_flips):
            image = tf.image.random_flip_left_right(image, seed=self.seed)
        return image

    def per_batch(self, images):
        """Everything after the leading flips, on a uint8 batch ``(b, h, w, c)``."""
        images = tf.convert_to_tensor(images)
        if not self.has_batch_part:
            return images
        x = tf.cast(images, tf.float32)
        if self.pad:
            # reflect padding needs pad < side: clamp for tiny images
            shape = tf.shape(x)
            p = tf.minimum(self.pad, tf.minimum(shape[1], shape[2]) - 1)
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
        for i, layer in enumerate(self.layers[self._n_flips :]):
            if isinstance(layer, keras.layers.RandomCrop):
                x = _random_crop_per_image(x, layer, None if self.seed is None else self.seed + i)
            else:
                x = layer(x, training=True)
        x = tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)
        if images.shape[1] is not None:
            x = tf.ensure_shape(x, [None, *images.shape[1:]])
        return x

    def __call__(self, images):
        images = tf.convert_to_tensor(images)
        unbatched = images.shape.rank == 3
        if unbatched:
            images = images[None]
        x = tf.cast(images, tf.uint8)
        for _ in range(self._n_flips):
            flip = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], seed=self.seed) < 0.5
            x = tf.where(flip, tf.reverse(x, axis=[2]), x)
        x = self.per_batch(x)
        return x[0] if unbatched else x


def _random_crop_per_image(x, layer, seed):
    """``layer``'s (a ``keras.layers.RandomCrop``) crop with its own window for every image.

    Keras' ``RandomCrop`` draws one offset per call, so a batch would share a single window;
    here each image of the batch gets its own uniform offset (as a per-image crop in a
    PyTorch ``Dataset`` would). Images not larger than the crop go through the layer itself
    (its centre crop + resize).
    """
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    height, width = int(layer.height), int(layer.width)

    def per_image():
        seeds = (None, None) if seed is None else (seed, seed + 7919)
        dy = tf.random.uniform([n], 0, h - height + 1, dtype=tf.int32, seed=seeds[0])
        dx = tf.random.uniform([n], 0, w - width + 1, dtype=tf.int32, seed=seeds[1])
        rows = dy[:, None] + tf.range(height)[None]
        cols = dx[:, None] + tf.range(width)[None]
        return tf.gather(tf.gather(x, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)

    def whole_layer():
        return tf.cast(layer(x, training=True), x.dtype)

    fits = tf.logical_and(h >= height, w >= width)
    return tf.ensure_shape(tf.cond(fits, per_image, whole_layer), [None, height, width, None])


def _flip_layers(s, image_size, pad):
    return [keras.layers.RandomFlip("horizontal", seed=s())], 0


def _reid_layers(s, image_size, pad):
    if image_size is None:
        raise ValueError("image_size=(height, width) is required by the 'reid' preset (pad + crop)")
    h, w = (int(v) for v in image_size)
    layers = [keras.layers.RandomFlip("horizontal", seed=s())]
    if pad:
        layers.append(keras.layers.RandomCrop(h, w, seed=s()))
    return layers, pad


def _faces_layers(s, image_size, pad):
    L = keras.layers
    layers = [
        L.RandomFlip("horizontal", seed=s()),
        L.RandomRotation(0.03, fill_mode="reflect", seed=s()),
        L.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=s()),
        L.RandomZoom(0.1, fill_mode="reflect", seed=s()),
        L.RandomColorJitter(
            value_range=(0, 255),
            brightness_factor=0.2,
            contrast_factor=0.2,
            saturation_factor=(0.4, 0.6),
            seed=s(),
        ),
    ]
    return layers, 0


def _signs_layers(s, image_size, pad):
    L = keras.layers
    layers = [
        L.RandomRotation(0.04, fill_mode="nearest", seed=s()),
        L.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=s()),
        L.RandomZoom(0.15, fill_mode="nearest", seed=s()),
        L.RandomColorJitter(
            value_range=(0, 255), brightness_factor=0.3, contrast_factor=0.3, seed=s()
        ),
    ]
    return layers, 0


def _default_layers(s, image_size, pad):
    L = keras.layers
    layers = [
        L.RandomFlip("horizontal", seed=s()),
        L.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=s()),
        L.RandomBrightness(0.2, value_range=(0, 255), seed=s()),
        L.RandomContrast(0.2, value_range=(0, 255), seed=s()),
    ]
    return layers, 0


# preset -> (seed source, image_size, pad) -> (layers, pad used); before erasing / RandAugment
_PRESET_LAYERS = {
    "default": _default_layers,
    "reid": _reid_layers,
    "faces": _faces_layers,
    "signs": _signs_layers,
    "flip": _flip_layers,
}


def augmentation_pipeline(
    preset: str = "default",
    image_size: Sequence[int] | None = None,
    seed: int | None = None,
    randaugment: bool = False,
    erasing_probability: float | None = None,
    pad: int = 10,
) -> AugmentationPipeline:
    """Build an augmentation pipeline for uint8 image batches (run it in ``tf.data.Dataset.map``).

    Args:
        preset: one of ``"default"``, ``"reid"``, ``"faces"``, ``"signs"``, ``"flip"``.
        image_size: (height, width) of the images; required by presets that pad + crop
            (``"reid"``).
        seed: base seed; layer ``i`` gets ``seed + i``.
        randaugment: append ``keras.layers.RandAugment``.
        erasing_probability: probability an image gets a random-erased rectangle (2 to 33 % of
            its area, random values; Zhong et al. 2020), after the preset's other layers.
            None: the preset's own (0.5 for ``reid`` and ``default``, 0 for the others); a
            number applies to any preset (e.g. occluded or vandalised traffic signs).
        pad: reflect padding (pixels) before the random crop of the reid preset.

    Returns:
        :class:`AugmentationPipeline`.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if erasing_probability is None:
        erasing_probability = 0.5 if preset in ("reid", "default") else 0.0
    if not 0.0 <= erasing_probability <= 1.0:
        raise ValueError(f"erasing_probability must be in [0, 1], got {erasing_probability}")
    counter = iter(range(100))

    def s():
        return None if seed is None else seed + next(counter)

    layers, used_pad = _PRESET_LAYERS[preset](s, image_size, pad)
    if erasing_probability:
        # factor=(p, p): Keras draws each image's probability from U(factor), so a single
        # float p would erase with probability p / 2 on average
        p = float(erasing_probability)
        layers.append(
            keras.layers.RandomErasing(
                factor=(p, p), scale=(0.02, 0.33), value_range=(0, 255), seed=s()
            )
        )
    if randaugment:
        layers.append(
            keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5, seed=s())
        )
    return AugmentationPipeline(layers, pad=used_pad, name=preset, seed=seed)


class AlbumentationsAdapter:
    """Run an ``albumentations.Compose`` on uint8 image batches inside tf.data.

    Needs the optional extra: ``pip install embedding-net[aug]``. The compose runs in Python
    (``tf.numpy_function``), image by image; it must keep the image size (use ``A.Resize`` last
    when it does not).

    Args:
        compose: an ``albumentations.Compose`` (any callable ``compose(image=array) -> {"image": array}``).

    Call:
        images: uint8 ``(batch, h, w, 3)`` or ``(h, w, 3)``; returns the same shape, uint8.
    """

    def __init__(self, compose: Callable):
        if importlib.util.find_spec("albumentations") is None:
            raise ImportError(
                "AlbumentationsAdapter needs albumentations: pip install embedding-net[aug]"
            )
        if not callable(compose):
            raise ValueError(f"compose must be an albumentations.Compose, got {compose!r}")
        self.compose = compose

    def _apply_numpy(self, images: np.ndarray) -> np.ndarray:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            result = np.asarray(self.compose(image=image)["image"])
            if result.shape != image.shape:
                raise ValueError(
                    f"the albumentations compose changed the image shape {image.shape} -> "
                    f"{result.shape}: end it with A.Resize(height, width)"
                )
            out[i] = np.clip(result, 0, 255).astype(np.uint8)
        return out

    def __call__(self, images):
        images = tf.convert_to_tensor(images)
        unbatched = images.shape.rank == 3
        if unbatched:
            images = images[None]
        out = tf.numpy_function(
            self._apply_numpy, [tf.cast(images, tf.uint8)], tf.uint8, stateful=True
        )
        out = tf.ensure_shape(out, images.shape)
        return out[0] if unbatched else out
