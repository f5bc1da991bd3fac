"""Pair metrics for siamese models."""

from __future__ import annotations

import keras
from keras import ops


def distance_accuracy(y_true, distances, threshold: float = 0.5):
    """Per-pair correctness of "same iff distance < threshold"; float32 ``(batch,)``."""
    same = ops.reshape(ops.cast(y_true, "float32"), (-1,)) > 0.5
    predicted_same = ops.reshape(ops.cast(distances, "float32"), (-1,)) < threshold
    return ops.cast(ops.equal(same, predicted_same), "float32")


@keras.saving.register_keras_serializable(package="embedding_net")
class DistanceAccuracy(keras.metrics.MeanMetricWrapper):
    """Pair accuracy of a distance output: a pair is called "same" when its distance is
    below ``threshold`` (labels: 1 same, 0 different)."""

    def __init__(self, threshold: float = 0.5, name: str = "accuracy", dtype=None):
        super().__init__(distance_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = float(threshold)

    def get_config(self):
        return {"threshold": self.threshold, "name": self.name, "dtype": self.dtype}
