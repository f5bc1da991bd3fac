"""Layers that compare two embeddings row by row (siamese heads)."""

from __future__ import annotations

import keras
from keras import ops

PAIR_DISTANCES = ("euclidean", "squared_euclidean", "cosine")


def paired_distance(a, b, metric: str = "euclidean"):
    """Distance between matching rows of ``a`` and ``b``.

    Args:
        a: float tensor ``(batch, dim)``.
        b: float tensor ``(batch, dim)``, compared row by row with ``a``.
        metric: ``"euclidean"`` (``|a-b|``), ``"squared_euclidean"`` (``|a-b|^2``) or
            ``"cosine"`` (``1 - cos(a, b)``).

    Returns:
        float32 tensor ``(batch,)``. The euclidean distance has a finite (zero) gradient
        where ``a == b``, like tensorflow-addons' ``pairwise_distance``.
    """
    a = ops.cast(a, "float32")
    b = ops.cast(b, "float32")
    if metric == "cosine":
        a_n = a * ops.rsqrt(ops.maximum(ops.sum(ops.square(a), axis=-1, keepdims=True), 1e-12))
        b_n = b * ops.rsqrt(ops.maximum(ops.sum(ops.square(b), axis=-1, keepdims=True), 1e-12))
        return 1.0 - ops.sum(a_n * b_n, axis=-1)
    squared = ops.sum(ops.square(a - b), axis=-1)
    if metric == "squared_euclidean":
        return squared
    if metric == "euclidean":
        positive = ops.cast(squared > 0.0, "float32")
        return ops.sqrt(squared + (1.0 - positive) * 1e-16) * positive
    raise ValueError(f"paired_distance: metric={metric!r} is not one of {PAIR_DISTANCES}")


@keras.saving.register_keras_serializable(package="embedding_net")
class PairDistance(keras.layers.Layer):
    """Keras layer wrapping :func:`paired_distance`: ``[a, b] -> (batch,)`` distances."""

    def __init__(self, metric: str = "euclidean", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if metric not in PAIR_DISTANCES:
            raise ValueError(f"PairDistance: metric={metric!r} is not one of {PAIR_DISTANCES}")
        self.metric = metric

    def call(self, inputs):
        a, b = inputs
        return paired_distance(a, b, self.metric)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        config = super().get_config()
        config["metric"] = self.metric
        return config


@keras.saving.register_keras_serializable(package="embedding_net")
class AbsoluteDifferenceHead(keras.layers.Layer):
    """Seed 002's merge network: ``sigmoid(Dense(|a - b|))``, the probability that a pair matches.

    Input: ``[a, b]``, each ``(batch, dim)``. Output: float32 ``(batch,)`` in (0, 1).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1, name="merge_dense", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.dense.build((None, input_shape[0][-1]))

    def call(self, inputs):
        a, b = inputs
        logits = self.dense(ops.abs(a - b))
        return ops.sigmoid(ops.cast(ops.squeeze(logits, axis=-1), "float32"))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)
