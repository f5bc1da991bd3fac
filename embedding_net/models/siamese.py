"""SiameseModel: one shared BaseNetwork applied to both images of a pair."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from embedding_net.compiling import compile_from_config
from embedding_net.layers import AbsoluteDifferenceHead, paired_distance
from embedding_net.models.inputs import check_tuple_inputs
from embedding_net.models.metrics import DistanceAccuracy
from embedding_net.models.pair_distance import similarity_of_distance, training_distance

HEADS = ("distance", "merge")


@keras.saving.register_keras_serializable(package="embedding_net")
class SiameseModel(keras.Model):
    """Twin network over pairs ``(x1, x2)``; labels are 1 for "same", 0 for "different".

    Heads:
        * ``"distance"``: the model outputs the embedding distance ``(batch,)``; compile it
          with a contrastive loss (the default when ``compile`` gets no loss:
          ``ContrastiveLoss(margin)``).
        * ``"merge"``: the merge net, ``sigmoid(Dense(|e1 - e2|))``, trained with
          binary cross-entropy (the default loss), optionally plus
          ``contrastive_weight * contrastive(y, distance)`` on the embeddings. The model's
          raw output is ``(batch, 2)``: column 0 the match probability, column 1 the
          embedding distance (so the extra term needs no second forward pass); metrics see
          column 0.

    ``predict`` returns one similarity score per pair (higher = more similar):
        * merge head: the match probability in (0, 1);
        * distance head: the cosine similarity ``1 - d^2/2`` for L2-normalised embeddings
          with the euclidean distance, ``1 - d`` for the angular distance, and ``1 / (1 + d)``
          otherwise.
    :meth:`distance` gives the raw embedding distances.

    Args:
        network: the shared :class:`BaseNetwork` (or any keras.Model images -> embeddings).
        head: ``"distance"`` or ``"merge"``.
        distance: a distance of :data:`embedding_net.layers.PAIR_DISTANCES` (``"euclidean"``,
            ``"squared_euclidean"``, ``"angular"``, ...; ``"cosine"`` is the deprecated
            spelling of ``"angular"`` here). Similarities are refused.
        margin: contrastive margin used by the default loss and the extra merge-head term.
        contrastive_weight: weight of the contrastive term added to the merge-head loss.
    """

    def __init__(
        self,
        network,
        head: str = "distance",
        distance: str = "euclidean",
        margin: float = 1.0,
        contrastive_weight: float = 0.0,
        name: str = "siamese_model",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not isinstance(network, keras.Model):
            raise ValueError(
                f"network must be a keras.Model (e.g. BaseNetwork), got {type(network).__name__}"
            )
        if head not in HEADS:
            raise ValueError(f"head={head!r} is not one of {HEADS}")
        distance = training_distance(distance, "SiameseModel")
        if contrastive_weight < 0:
            raise ValueError(f"contrastive_weight must be >= 0, got {contrastive_weight}")
        if contrastive_weight and head != "merge":
            raise ValueError("contrastive_weight only applies to head='merge'")
        self.network = network
        self.head = head
        self.distance_metric = distance
        self.margin = float(margin)
        self.contrastive_weight = float(contrastive_weight)
        self.merge = AbsoluteDifferenceHead(name="merge") if head == "merge" else None

    def build(self, input_shape=None):
        if self.merge is not None and not self.merge.built:
            dim = self.network.output_shape[-1]
            self.merge.build([(None, dim), (None, dim)])
        self.built = True

    def call(self, inputs, training=None):
        x1, x2 = check_tuple_inputs(inputs, 2, "SiameseModel", "(x1, x2)")
        e1 = self.network(x1, training=training)
        e2 = self.network(x2, training=training)
        d = paired_distance(e1, e2, self.distance_metric)
        if self.head == "distance":
            return d
        score = self.merge([e1, e2])
        return ops.stack([score, d], axis=-1)

    def distance(self, x1, x2, batch_size: int = 64):
        """Embedding distances ``(n,)`` of the pairs ``(x1[i], x2[i])`` as numpy."""
        y = self.predict_raw((x1, x2), batch_size=batch_size)
        return y[:, 1] if self.head == "merge" else y

    def predict_raw(self, x, batch_size: int = 64, verbose=0):
        """The model's raw output (see the class docstring) as numpy."""
        return np.asarray(keras.Model.predict(self, x, batch_size=batch_size, verbose=verbose))

    def similarity_from_output(self, y):
        """Map the raw model output (numpy) to the similarity score ``predict`` returns."""
        y = np.asarray(y, dtype=np.float32)
        if self.head == "merge":
            return y[:, 0]
        normalized = bool(getattr(self.network, "normalize", False))
        return similarity_of_distance(y, self.distance_metric, normalized)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """One similarity score per pair (see the class docstring), numpy ``(n,)``."""
        y = super().predict(
            x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
        )
        return np.asarray(self.similarity_from_output(y))

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """``keras.Model.compile``; ``loss=None`` picks the head's loss: ContrastiveLoss(margin)
        for the distance head, binary cross-entropy for the merge head. The metric
        ``"accuracy"`` means pair accuracy: ``BinaryAccuracy`` of the match probability for
        the merge head, ``DistanceAccuracy(threshold=margin / 2)`` for the distance head."""
        if metrics is not None:
            metrics = [self._pair_metric(m) for m in metrics]
        if loss is None:
            if self.head == "distance":
                from embedding_net.losses import ContrastiveLoss

                loss = ContrastiveLoss(margin=self.margin)
            else:
                loss = keras.losses.BinaryCrossentropy()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def _pair_metric(self, metric):
        if metric not in ("accuracy", "acc"):
            return metric
        if self.head == "merge":
            return keras.metrics.BinaryAccuracy(name="accuracy")
        return DistanceAccuracy(threshold=self.margin / 2.0, name="accuracy")

    def compile_from_config(self, config):
        compile_from_config(self, config)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.head == "distance":
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        score, d = y_pred[:, 0], y_pred[:, 1]
        loss = super().compute_loss(x, y, score, sample_weight, training)
        if self.contrastive_weight:
            from embedding_net.losses import contrastive_loss

            per_pair = contrastive_loss(ops.reshape(y, (-1,)), d, margin=self.margin)
            if sample_weight is not None:
                sw = ops.cast(ops.reshape(sample_weight, (-1,)), per_pair.dtype)
                per_pair = per_pair * sw
            loss = loss + self.contrastive_weight * ops.mean(per_pair)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self.head == "merge":
            y_pred = y_pred[:, 0]
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        return {
            "network": keras.saving.serialize_keras_object(self.network),
            "head": self.head,
            "distance": self.distance_metric,
            "margin": self.margin,
            "contrastive_weight": self.contrastive_weight,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
