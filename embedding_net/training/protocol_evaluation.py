"""Epoch-end evaluation of a training run on its held-out :class:`ValidationSet`."""

from __future__ import annotations

import keras

from embedding_net.config.validation import evaluate_protocol


class ProtocolEvaluation(keras.callbacks.Callback):
    """Evaluate the embedding network on a :class:`~embedding_net.config.validation.ValidationSet`
    every ``every`` epochs, after the last and when training is being stopped; metrics go into ``logs`` as ``val_<name>``
    (so ModelCheckpoint, EarlyStopping, ReduceLROnPlateau and TensorBoard placed after it see
    them)."""

    def __init__(
        self, network, validation, every: int = 1, epochs: int = 1, batch_size=128, flip=False
    ):
        super().__init__()
        self.flip = bool(flip)
        self.network = network
        self.validation = validation
        self.every = int(every)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.evaluated: list[tuple[int, dict]] = []  # (epoch number, metrics)

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.epochs or self.model.stop_training  # e.g. TimeBudget
        if (epoch + 1) % self.every and not last:
            return
        metrics = evaluate_protocol(
            self.network, self.validation, batch_size=self.batch_size, flip=self.flip
        )
        self.evaluated.append((epoch + 1, metrics))
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in metrics.items()})
