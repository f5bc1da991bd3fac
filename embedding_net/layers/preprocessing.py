"""Image preprocessing inside the network, so raw uint8 images go in whatever the backbone."""

from __future__ import annotations

import keras
from keras import ops

# mode -> (description). Values follow keras.applications' ``preprocess_input`` modes.
PREPROCESSING_MODES = {
    "none": "pass pixels through unchanged (the backbone rescales itself)",
    "scale": "x / 255 -> [0, 1]",
    "tf": "x / 127.5 - 1 -> [-1, 1] (Inception, MobileNetV2)",
    "torch": "x / 255, then ImageNet mean/std normalisation per RGB channel",
    "caffe": "RGB -> BGR, then subtract the ImageNet BGR mean (ResNet50, VGG)",
    "standardize": "per image: subtract its mean, divide by its standard deviation "
    "(tf.image.per_image_standardization; evens out dark and low-contrast photos)",
}

_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="embedding_net")
class ImagePreprocessing(keras.layers.Layer):
    """Map raw pixel values in [0, 255] to what a backbone family expects.

    Args:
        mode: one of ``"none"``, ``"scale"``, ``"tf"``, ``"torch"``, ``"caffe"``,
            ``"standardize"`` (see ``PREPROCESSING_MODES``). ``"standardize"`` maps each
            image to zero mean and unit variance over all its pixels and channels, the
            standard deviation floored at ``1 / sqrt(pixels * channels)`` so that a constant
            image becomes zeros (as ``tf.image.per_image_standardization``).

    Input: float or integer tensor ``(batch, height, width, 3)`` (``(..., 1)`` for
    ``"none"``/``"scale"``/``"tf"``/``"standardize"``), values in [0, 255]. Output: float
    tensor, same shape.
    """

    def __init__(self, mode: str = "scale", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(
                f"ImagePreprocessing: mode={mode!r} is not one of {sorted(PREPROCESSING_MODES)}"
            )
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "none":
            return x
        if self.mode == "scale":
            return x / 255.0
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "standardize":
            x = x / 255.0
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.sqrt(ops.mean(ops.square(x - mean), axis=(1, 2, 3), keepdims=True))
            count = ops.cast(ops.prod(ops.shape(x)[1:]), self.compute_dtype)
            return (x - mean) / ops.maximum(std, ops.rsqrt(count))
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_IMAGENET_MEAN_RGB, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_IMAGENET_STD_RGB, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        # caffe
        x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        return x - mean

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config
