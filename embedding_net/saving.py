"""Load a ``.keras`` file holding embedding_net objects, in a fresh process.

``import embedding_net`` is lazy (no Keras backend until a model or loss is used). When Keras
is already imported, ``import embedding_net`` registers every class at once, so plain
``keras.saving.load_model`` works after ``import keras; import embedding_net``. Otherwise the
classes are registered when their modules are imported; :func:`load_model` imports every
module that registers a class first, in any order::

    import embedding_net as en

    network = en.load_model("runs/x/network.keras")   # a BaseNetwork again, safe mode
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

# every module with a @keras.saving.register_keras_serializable class or function
REGISTERING_MODULES = (
    "embedding_net.optimizers",
    "embedding_net.distances",
    "embedding_net.heads",
    "embedding_net.layers",
    "embedding_net.losses",
    "embedding_net.miners",
    "embedding_net.models",
)


def register_all() -> None:
    """Import every module that registers a class with Keras (idempotent)."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)


def load_model(path, compile: bool = True, safe_mode: bool = True, custom_objects=None):
    """``keras.saving.load_model`` with all embedding_net classes registered.

    Args:
        path: a ``.keras`` file (``BaseNetwork``, ``SiameseModel``, ``TripletModel``, a
            training run's ``best.keras`` / ``network.keras``, or any Keras model using our
            layers, losses or miners).
        compile: restore the compile state (optimizer, loss) saved with the model.
        safe_mode: refuse lambda deserialisation (Keras' default; keep it for files you did
            not write).
        custom_objects: your own classes, as for Keras.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a ``.keras`` file.
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"load_model: {path} does not exist")
    if path.suffix != ".keras":
        raise ValueError(f"load_model: {path} is not a .keras file (expected a Keras 3 archive)")
    import keras

    register_all()
    return keras.saving.load_model(
        path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )
