"""Losses built from a config's ``loss`` section, and :class:`WeightedLossSum`.

:class:`WeightedLossSum` adds in-batch losses on the same ``(labels, embeddings)``: the re-id
recipe "batch-hard triplet + identity (classification) loss" is
``WeightedLossSum([BatchHardTripletLoss(0.3), CosFaceLoss(num_classes)], [1.0, 1.0])``.
"""

from __future__ import annotations

import inspect

import keras
from keras import ops

from embedding_net.config.schema import LossConfig


@keras.saving.register_keras_serializable(package="embedding_net")
class WeightedLossSum(keras.losses.Loss):
    """``sum_i weight_i * loss_i(labels, embeddings)`` of already-reduced losses (a scalar).

    A loss with class weights among them (``ParametricLoss``: CosFace, ArcFace, proxies) is
    exposed as ``.layer``, so :meth:`embedding_net.BaseNetwork.compile` attaches its weights
    to the network (trained, saved, restored by ``keras.saving.load_model``). At most one
    such loss is supported.

    Args:
        losses: ``keras.losses.Loss`` objects (or their serialised configs).
        weights: one float per loss (default 1.0 each).
        name: loss name.

    Call:
        ``loss(labels (B,), embeddings (B, D))`` -> float32 scalar. ``sample_weight`` is
        passed to every term.
    """

    def __init__(self, losses, weights=None, name: str = "weighted_loss_sum", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        losses = [
            keras.losses.deserialize(item) if isinstance(item, dict) else item for item in losses
        ]
        if not losses:
            raise ValueError("WeightedLossSum: `losses` must hold at least one loss")
        for item in losses:
            if not isinstance(item, keras.losses.Loss):
                raise ValueError(
                    f"WeightedLossSum: every loss must be a keras.losses.Loss, got {item!r}"
                )
        weights = [1.0] * len(losses) if weights is None else [float(w) for w in weights]
        if len(weights) != len(losses):
            raise ValueError(
                f"WeightedLossSum: {len(weights)} weights for {len(losses)} losses; give one each"
            )
        layers = [item.layer for item in losses if hasattr(item, "layer")]
        if len(layers) > 1:
            raise ValueError("WeightedLossSum: at most one loss with class weights is supported")
        self.losses = losses
        self.loss_weights = weights
        self.layer = layers[0] if layers else None

    def __call__(self, y_true, y_pred, sample_weight=None):
        total = None
        for weight, item in zip(self.loss_weights, self.losses):
            term = ops.cast(item(y_true, y_pred, sample_weight=sample_weight), "float32") * weight
            total = term if total is None else total + term
        return total

    def call(self, y_true, y_pred):  # pragma: no cover - __call__ is overridden
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


def loss_class(name: str) -> type:
    """The loss class registered under ``name`` (``_`` may replace ``-``)."""
    from embedding_net.losses import available_losses
    from embedding_net.losses.base import LOSSES

    cls = LOSSES.lookup(name)
    if cls is not None:
        return cls
    raise ValueError(f"unknown loss {name!r}; expected one of {available_losses()}")


def _make(name: str, params: dict, num_classes: int, embedding_dim: int, where: str, miner=None):
    cls = loss_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = dict(params)
    if "num_classes" in accepted and "num_classes" not in kwargs:
        kwargs["num_classes"] = num_classes
    if "embedding_dim" in accepted and "embedding_dim" not in kwargs:
        kwargs["embedding_dim"] = embedding_dim
    if miner is not None:
        if "miner" not in accepted:
            raise ValueError(f"{where}.miner: loss {name!r} takes no miner")
        kwargs["miner"] = miner
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # unknown or out-of-range parameters
        raise ValueError(f"{where}.params: {exc}") from None


def build_loss(config: LossConfig, num_classes: int, embedding_dim: int, source: str | None = None):
    """The loss of a ``loss`` section for ``model.kind: embedding``.

    Args:
        config: the loss section.
        num_classes: training identities (filled into losses with class weights).
        embedding_dim: embedding size (builds class weights at once).
        source: config file named in errors.

    Returns:
        a ``keras.losses.Loss`` (a :class:`WeightedLossSum` when ``identity_loss`` is set).

    Raises:
        ValueError: unknown loss/miner name or bad parameters; the message names the key.
    """
    from embedding_net.miners import get_miner

    where = f"{source}: loss" if source else "loss"
    try:
        miner = get_miner(config.miner, **config.miner_params) if config.miner else None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}.miner: {exc}") from None
    try:
        main = _make(config.name, config.params, num_classes, embedding_dim, where, miner)
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(where) else f"{where}.name: {text}") from None
    if config.identity_loss is None:
        return main
    id_where = f"{where}.identity"
    try:
        identity = _make(
            config.identity_loss, config.identity_params, num_classes, embedding_dim, id_where
        )
    except ValueError as exc:
        text = str(exc)
        raise ValueError(
            text if text.startswith(id_where) else f"{where}.identity_loss: {text}"
        ) from None
    return WeightedLossSum([main, identity], [1.0, config.identity_weight])
