"""Re-compiling a loaded model whose ``compile`` is overridden.

Keras' ``load_model`` compiles a loaded model from its saved compile config only when the
model keeps the stock ``keras.Model.compile``; a model that overrides ``compile``
(:class:`~embedding_net.BaseNetwork`, ``SiameseModel``, ``TripletModel``,
:class:`~embedding_net.models.ClassifierTrainingModel`) must implement ``compile_from_config``
itself. They all call :func:`compile_from_config`. This module imports only Keras, so that
both ``models`` and ``losses`` may use it.
"""

from __future__ import annotations

import logging

import keras

logger = logging.getLogger(__name__)


def compile_from_config(model: keras.Model, config: dict) -> None:
    """Re-compile ``model`` from its saved compile config (what ``keras.Model`` does for
    models that keep the stock ``compile``), so loaded models can resume training.

    The optimizer is built on ``model.trainable_variables`` at once, so that Keras then
    loads the saved optimizer state into it.

    Like Keras, a compile config that cannot be deserialized (e.g. a custom optimizer whose
    module is not imported) leaves the model loaded but uncompiled, with a warning; so does
    one the model's ``compile`` refuses (a file written by an older version whose loss
    owned class weights: ``BaseNetwork.compile`` no longer takes such losses).

    Args:
        model: the loaded model; its own ``compile`` is called.
        config: the saved compile config (``model.get_compile_config()``).
    """
    try:
        config = keras.saving.deserialize_keras_object(config)
    except (TypeError, ValueError) as exc:
        logger.warning(
            "%s was loaded without its training configuration (compile it again to train): %s",
            model.name,
            exc,
        )
        return
    try:
        model.compile(**config)
    except ValueError as exc:
        logger.warning(
            "%s was loaded without its training configuration (compile it again to train): %s",
            model.name,
            exc,
        )
        return
    if getattr(model, "optimizer", None) is not None and model.built:
        model.optimizer.build(model.trainable_variables)
