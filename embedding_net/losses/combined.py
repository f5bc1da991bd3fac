"""A weighted sum of in-batch losses on the same ``(labels, embeddings)``."""

from __future__ import annotations

import warnings

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="embedding_net")
class CombinedLoss(keras.losses.Loss):
    """``sum_i weight_i * loss_i(labels, embeddings)`` of already-reduced losses (a scalar)::

        CombinedLoss([BatchHardTripletLoss(0.3), MultiSimilarityLoss()], [1.0, 0.5])

    A metric loss plus a loss with class weights (the re-id "triplet + ID loss" recipe) is
    ``ClassifierTrainingModel(network, CosFaceHead(num_classes),
    metric_loss=BatchHardTripletLoss(0.3))``: the head is a layer of the model, which
    trains and saves its weights. A ``CombinedLoss`` can be that ``metric_loss``.

    Args:
        losses: ``keras.losses.Loss`` objects (or their serialised configs).
        weights: one float per loss (default 1.0 each).
        name: loss name.

    Call:
        ``loss(labels (B,), embeddings (B, D))`` -> float32 scalar. ``sample_weight`` is
        passed to every term.
    """

    def __init__(self, losses, weights=None, name: str = "combined_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        cls = type(self).__name__
        if not isinstance(losses, (list, tuple)):
            raise ValueError(f"{cls}: `losses` must be a list of losses, got {losses!r}")
        losses = [
            keras.losses.deserialize(item) if isinstance(item, dict) else item for item in losses
        ]
        if not losses:
            raise ValueError(f"{cls}: `losses` must hold at least one loss")
        for item in losses:
            if not isinstance(item, keras.losses.Loss):
                raise ValueError(f"{cls}: every loss must be a keras.losses.Loss, got {item!r}")
        weights = [1.0] * len(losses) if weights is None else [float(w) for w in weights]
        if len(weights) != len(losses):
            raise ValueError(
                f"{cls}: {len(weights)} weights for {len(losses)} losses; give one each"
            )
        self.losses = losses
        self.loss_weights = weights

    def __call__(self, y_true, y_pred, sample_weight=None):
        total = None
        for weight, item in zip(self.loss_weights, self.losses):
            term = ops.cast(item(y_true, y_pred, sample_weight=sample_weight), "float32") * weight
            total = term if total is None else total + term
        return total

    def call(self, y_true, y_pred):
        return self.__call__(y_true, y_pred)

    def get_config(self):
        return {
            "losses": [keras.losses.serialize(item) for item in self.losses],
            "weights": list(self.loss_weights),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="embedding_net")
class WeightedLossSum(CombinedLoss):
    """Deprecated name of :class:`CombinedLoss` (kept one release; ``.keras`` files that
    hold a ``WeightedLossSum`` still load as this class)."""

    def __init__(self, losses, weights=None, name: str = "weighted_loss_sum", **kwargs):
        warnings.warn(
            "WeightedLossSum is deprecated: use embedding_net.losses.CombinedLoss",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(losses, weights, name=name, **kwargs)
