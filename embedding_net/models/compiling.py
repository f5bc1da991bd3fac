"""Shared compile support for models whose ``compile`` fills in defaults."""

from __future__ import annotations

import keras


def compile_from_config(model: keras.Model, config: dict) -> None:
    """Re-compile ``model`` from its saved compile config (what ``keras.Model`` does for
    models that keep the stock ``compile``), so loaded models can resume training."""
    config = keras.saving.deserialize_keras_object(config)
    model.compile(**config)
    if getattr(model, "optimizer", None) is not None and model.built:
        model.optimizer.build(model.trainable_variables)
