"""Normalisation layers for embeddings."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.distances.functional import l2_normalize


@keras.saving.register_keras_serializable(package="embedding_net")
class L2Normalize(keras.layers.Layer):
    """Scale each embedding to unit L2 norm: ``x / sqrt(max(sum(x^2), epsilon))``.

    Computed in float32 (safe under mixed precision); an all-zero row stays zero
    with a finite gradient.

    Input: ``(batch, dim)``. Output: ``(batch, dim)`` float32.
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        return l2_normalize(x, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config
