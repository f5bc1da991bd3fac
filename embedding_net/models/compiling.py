"""Shared compile support for models whose ``compile`` fills in defaults."""

from __future__ import annotations

import logging

import keras

logger = logging.getLogger(__name__)


def compile_from_config(model: keras.Model, config: dict) -> None:
    """Re-compile ``model`` from its saved compile config (what ``keras.Model`` does for
    models that keep the stock ``compile``), so loaded models can resume training.

    Like Keras, a compile config that cannot be deserialized (e.g. a custom optimizer whose
    module is not imported) leaves the model loaded but uncompiled, with a warning."""
    try:
        config = keras.saving.deserialize_keras_object(config)
    except (TypeError, ValueError) as exc:
        logger.warning(
            "%s was loaded without its training configuration (compile it again to train): %s",
            model.name,
            exc,
        )
        return
    model.compile(**config)
    if getattr(model, "optimizer", None) is not None and model.built:
        model.optimizer.build(model.trainable_variables)
