"""TripletModel: one shared network over explicit (anchor, positive, negative) triplets."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from embedding_net.compiling import compile_from_config
from embedding_net.layers import paired_distance
from embedding_net.models.inputs import check_tuple_inputs
from embedding_net.models.pair_distance import training_distance


def triplet_margin_loss(d_ap, d_an, margin: float = 1.0):
    """Per-triplet hinge ``max(d(a, p) - d(a, n) + margin, 0)``; float32 ``(batch,)``."""
    return ops.maximum(ops.cast(d_ap, "float32") - ops.cast(d_an, "float32") + margin, 0.0)


@keras.saving.register_keras_serializable(package="embedding_net")
class TripletModel(keras.Model):
    """Train a shared embedding network on explicit triplets (e.g. rows of an anchor / positive / negative CSV).

    Inputs are ``(anchor, positive, negative)`` image batches; no labels are needed
    (datasets may yield only ``x``). The output is ``(batch, 2)``:
    ``[d(anchor, positive), d(anchor, negative)]``. The loss is
    ``mean_i max(d_ap_i - d_an_i + margin, 0)`` (weighted by ``sample_weight`` when given),
    plus any losses added by layers. The metric ``triplet_accuracy`` is the fraction of
    triplets with ``d_ap < d_an``.

    To train on labelled batches without building triplets, compile the
    :class:`BaseNetwork` itself with an in-batch loss (e.g. ``TripletSemiHardLoss``).

    Args:
        network: the shared :class:`BaseNetwork` (or any keras.Model images -> embeddings).
        margin: triplet margin, > 0.
        distance: a distance of :data:`embedding_net.layers.PAIR_DISTANCES` (``"euclidean"``,
            ``"squared_euclidean"``, ``"angular"``, ...; ``"cosine"`` is the deprecated
            spelling of ``"angular"`` here). Similarities are refused.
    """

    def __init__(
        self,
        network,
        margin: float = 1.0,
        distance: str = "euclidean",
        name: str = "triplet_model",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not isinstance(network, keras.Model):
            raise ValueError(
                f"network must be a keras.Model (e.g. BaseNetwork), got {type(network).__name__}"
            )
        distance = training_distance(distance, "TripletModel")
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.network = network
        self.margin = float(margin)
        self.distance_metric = distance
        self.triplet_accuracy = keras.metrics.Mean(name="triplet_accuracy")

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=None):
        a, p, n = check_tuple_inputs(inputs, 3, "TripletModel", "(anchor, positive, negative)")
        ea = self.network(a, training=training)
        ep = self.network(p, training=training)
        en = self.network(n, training=training)
        d_ap = paired_distance(ea, ep, self.distance_metric)
        d_an = paired_distance(ea, en, self.distance_metric)
        return ops.stack([d_ap, d_an], axis=-1)

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """``keras.Model.compile``. The triplet loss is built in: ``loss`` must stay None."""
        if loss is not None:
            raise ValueError(
                "TripletModel computes its own triplet margin loss; call compile() without "
                "loss= (set margin= on the model instead)"
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        compile_from_config(self, config)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        per_triplet = triplet_margin_loss(y_pred[:, 0], y_pred[:, 1], self.margin)
        if sample_weight is not None:
            sw = ops.cast(ops.reshape(sample_weight, (-1,)), per_triplet.dtype)
            per_triplet = per_triplet * sw
        loss = ops.mean(per_triplet)
        for extra in self.losses:
            loss = loss + ops.cast(extra, loss.dtype)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        correct = ops.cast(y_pred[:, 0] < y_pred[:, 1], "float32")
        self.triplet_accuracy.update_state(correct)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def encode(self, images, batch_size: int = 64, verbose="auto") -> np.ndarray:
        """Embeddings of single images from the shared network (see BaseNetwork.encode)."""
        if hasattr(self.network, "encode"):
            return self.network.encode(images, batch_size=batch_size, verbose=verbose)
        return np.asarray(self.network.predict(images, batch_size=batch_size, verbose=0))

    def get_config(self):
        return {
            "network": keras.saving.serialize_keras_object(self.network),
            "margin": self.margin,
            "distance": self.distance_metric,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
