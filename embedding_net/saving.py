"""Load a ``.keras`` file holding embedding_net objects, in a fresh process.

``import embedding_net`` is lazy (no Keras backend until a model or loss is used). When Keras
is already imported, ``import embedding_net`` registers every class at once, so plain
``keras.saving.load_model`` works after ``import keras; import embedding_net``. Otherwise the
classes are registered when their modules are imported; :func:`load_model` imports every
module that registers a class first, in any order::

    import embedding_net as en

    network = en.load_model("runs/x/network.keras")   # a BaseNetwork again, safe mode
    network = en.load_model("presets/market_resnet50")  # a preset directory too

A **preset directory** (written by :meth:`~embedding_net.BaseNetwork.save_to_preset`) holds
``network.keras`` (the network, config and weights, loaded in safe mode),
``metadata.json`` (embedding size, input size, preprocessing, the training config and
held-out metrics) and ``config.json`` (the network's config, for reading only).
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


PRESET_MODEL_FILE = "network.keras"
PRESET_METADATA_FILE = "metadata.json"
PRESET_CONFIG_FILE = "config.json"
PRESET_FORMAT = "embedding_net.preset"


def is_preset_dir(path) -> bool:
    """Whether ``path`` is a directory written by ``BaseNetwork.save_to_preset``."""
    path = Path(os.fspath(path))
    return (path / PRESET_METADATA_FILE).is_file() and (path / PRESET_MODEL_FILE).is_file()


def preset_model_file(path) -> Path:
    """The ``.keras`` file of the preset directory ``path``.

    Raises:
        FileNotFoundError: ``path`` is not a directory, or it lacks the metadata or model file.
        ValueError: its ``metadata.json`` is not an embedding_net preset's (e.g. a keras-hub
            backbone preset, which is a backbone and not an embedding network).
    """
    import json

    path = Path(os.fspath(path))
    if not path.is_dir():
        raise FileNotFoundError(f"preset {path} is not a directory")
    meta = path / PRESET_METADATA_FILE
    if not meta.is_file():
        raise FileNotFoundError(
            f"preset {path} has no {PRESET_METADATA_FILE} (expected a directory written by "
            "BaseNetwork.save_to_preset)"
        )
    try:
        metadata = json.loads(meta.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"preset {meta}: not valid JSON ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != PRESET_FORMAT:
        raise ValueError(
            f"preset {path}: {PRESET_METADATA_FILE} is not an embedding_net preset's (a "
            "keras-hub backbone preset goes to BaseNetwork(backbone=...) instead)"
        )
    model = path / PRESET_MODEL_FILE
    if not model.is_file():
        raise FileNotFoundError(f"preset {path} has no {PRESET_MODEL_FILE}")
    return model


def register_all() -> None:
    """Import every module that registers a class with Keras (idempotent)."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)


def load_model(path, compile: bool = True, safe_mode: bool = True, custom_objects=None):
    """``keras.saving.load_model`` with all embedding_net classes registered.

    Args:
        path: a ``.keras`` file (``BaseNetwork``, ``SiameseModel``, ``TripletModel``, a
            training run's ``best.keras`` / ``network.keras``, or any Keras model using our
            layers, losses or miners), or a preset directory (its ``network.keras``).
        compile: restore the compile state (optimizer, loss) saved with the model.
        safe_mode: refuse lambda deserialisation (Keras' default; keep it for files you did
            not write).
        custom_objects: your own classes, as for Keras.

    Raises:
        FileNotFoundError: ``path`` does not exist (or is a preset missing its files).
        ValueError: ``path`` is not a ``.keras`` file or a preset directory, or is truncated.
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        path = preset_model_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_model: {path} does not exist")
    if path.suffix != ".keras":
        raise ValueError(f"load_model: {path} is not a .keras file (expected a Keras 3 archive)")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"load_model: {path} is not a complete .keras archive (truncated or damaged, e.g. "
            "a run stopped while writing it)"
        )
    import keras

    register_all()
    return keras.saving.load_model(
        path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )
