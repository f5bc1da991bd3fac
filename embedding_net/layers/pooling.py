"""Pooling layers for embedding heads."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="embedding_net")
class GeneralizedMeanPooling(keras.layers.Layer):
    """Generalized-mean (GeM) pooling (Radenovic et al. 2018).

    ``f_c = (mean_{h,w} max(x_hwc, eps)^p)^(1/p)``; ``p=1`` is average pooling and
    ``p -> inf`` approaches max pooling. ``p`` is learned when ``trainable_p`` is true.

    Args:
        p: initial exponent, > 0.
        trainable_p: learn ``p`` with the rest of the network.
        epsilon: clamp for the activations (keeps the power finite for zeros).

    Input: ``(batch, height, width, channels)``. Output: ``(batch, channels)``.
    """

    def __init__(self, p: float = 3.0, trainable_p: bool = True, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if p <= 0:
            raise ValueError(f"GeneralizedMeanPooling: p must be > 0, got {p}")
        self.initial_p = float(p)
        self.trainable_p = bool(trainable_p)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "GeneralizedMeanPooling expects a 4D input (batch, height, width, channels), "
                f"got shape {input_shape}"
            )
        self.p = self.add_weight(
            name="p",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_p),
            trainable=self.trainable_p,
        )

    def call(self, inputs):
        x = ops.maximum(ops.cast(inputs, "float32"), self.epsilon)
        p = ops.cast(self.p, "float32")
        pooled = ops.power(ops.mean(ops.power(x, p), axis=(1, 2)), 1.0 / p)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(p=self.initial_p, trainable_p=self.trainable_p, epsilon=self.epsilon)
        return config
