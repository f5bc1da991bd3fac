"""Presets of our own: a trained embedding network as a self-describing directory.

::

    network.save_to_preset("presets/mars_dinov2", training_config=config, metrics=results)
    network = BaseNetwork.from_preset("presets/mars_dinov2")        # or "hf://user/repo"

A preset directory holds

- ``network.keras``: the network (its config and every weight), loaded in Keras safe mode:
  loading never runs code from the preset;
- ``metadata.json``: ``format``, ``format_version``, ``embedding_dim``, ``input_shape``,
  ``preprocessing`` (the mode, or a keras-hub family's scale / offset), ``backbone``
  (name or keras-hub handle), ``training_config`` (the run's config that produced it),
  ``metrics`` (its held-out metrics), the library, Keras and keras-hub versions and the date;
- ``config.json``: the network's ``get_config()`` (for reading; loading uses the ``.keras``).

A handle ``hf://user/repo`` or ``kaggle://owner/model/keras/variation`` is downloaded first
(``huggingface_hub.snapshot_download`` / ``kagglehub.model_download``, which need internet);
any other string is a local directory.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path

import keras

from embedding_net.saving import (
    PRESET_CONFIG_FILE,
    PRESET_FORMAT,
    PRESET_METADATA_FILE,
    PRESET_MODEL_FILE,
    load_model,
)

PRESET_FORMAT_VERSION = 1


def _jsonable(value, what: str):
    if value is None:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"save_to_preset: {what} cannot be written as JSON: {exc}") from None


def _json_default(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def preset_metadata(network, training_config=None, metrics=None) -> dict:
    """The ``metadata.json`` of ``network`` (see the module docstring)."""
    from embedding_net.models.hub import keras_hub_installed

    hub_version = None
    if keras_hub_installed() and network.hub_preprocessing is not None:
        hub_version = _version("keras-hub")
    preprocessing = network.hub_preprocessing
    if preprocessing is None or network.preprocessing is not None:
        layer = network.get_layer("preprocessing")
        preprocessing = {"mode": layer.mode}
    return {
        "format": PRESET_FORMAT,
        "format_version": PRESET_FORMAT_VERSION,
        "embedding_dim": int(network.embedding_dim),
        "input_shape": list(network.image_shape),
        "preprocessing": preprocessing,
        "backbone": network.backbone_handle,
        "normalize": network.normalize,
        "training_config": _jsonable(training_config, "training_config"),
        "metrics": _jsonable(metrics, "metrics"),
        "embedding_net_version": _version("embedding_net"),
        "keras_version": keras.__version__,
        "keras_hub_version": hub_version,
        "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def save_preset(network, directory, training_config=None, metrics=None, overwrite=False) -> Path:
    """Write ``network`` as a preset directory; returns its path.

    Args:
        network: a :class:`~embedding_net.BaseNetwork`.
        directory: the preset directory (created; must be empty or absent unless
            ``overwrite``).
        training_config: the training config that produced the network (a
            :class:`~embedding_net.config.TrainConfig` or a dict), recorded in the metadata.
        metrics: its held-out metrics (a dict of numbers), recorded in the metadata.
        overwrite: replace the files of an existing preset.

    Raises:
        FileExistsError: ``directory`` holds files and ``overwrite`` is False.
        ValueError: ``training_config`` / ``metrics`` cannot be written as JSON.
    """
    directory = Path(os.fspath(directory))
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"save_to_preset: {directory} is a file, expected a directory")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(
            f"save_to_preset: {directory} is not empty; pass overwrite=True to replace it"
        )
    metadata = preset_metadata(network, training_config, metrics)
    config = _jsonable(network.get_config(), "the network's config")
    from embedding_net.atomic import atomic_path, write_json_atomic

    directory.mkdir(parents=True, exist_ok=True)
    # each file under a temporary name renamed into place; the metadata last
    with atomic_path(directory / PRESET_MODEL_FILE) as tmp:
        network.save(tmp, overwrite=True)
    write_json_atomic(directory / PRESET_CONFIG_FILE, config, indent=2)
    write_json_atomic(directory / PRESET_METADATA_FILE, metadata, indent=2)
    return directory


def resolve_preset(handle) -> Path:
    """The local directory of a preset ``handle``: a directory as it is, an ``hf://`` or
    ``kaggle://`` handle downloaded.

    Raises:
        FileNotFoundError: a local handle that is not a directory (names the handle).
        ValueError: a remote handle that cannot be downloaded (names the handle).
        ImportError: the download client (``huggingface_hub`` / ``kagglehub``) is missing.
    """
    text = os.fspath(handle)
    if text.startswith("hf://"):
        return _download(text, "huggingface_hub", lambda m: m.snapshot_download(text[5:]))
    if text.startswith("kaggle://"):
        return _download(text, "kagglehub", lambda m: m.model_download(text[9:]))
    path = Path(text)
    if not path.is_dir():
        raise FileNotFoundError(
            f"preset {text!r}: no such directory (expected a directory written by "
            "BaseNetwork.save_to_preset, or an hf:// / kaggle:// handle)"
        )
    return path


def _download(handle: str, module: str, fetch) -> Path:
    import importlib

    try:
        client = importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"preset {handle!r}: downloading it needs {module} (pip install embedding_net[hub])"
        ) from None
    try:
        return Path(fetch(client))
    except Exception as exc:  # network, authentication, unknown repository ...
        raise ValueError(
            f"preset {handle!r}: cannot download it (needs internet and an existing "
            f"repository): {type(exc).__name__}: {exc}"
        ) from exc


def load_preset(handle, compile: bool = False):
    """The network of a preset (a directory or an ``hf://`` / ``kaggle://`` handle), loaded
    in Keras safe mode; the metadata is at ``network.preset_metadata``.

    Raises:
        FileNotFoundError / ValueError: the preset cannot be found, downloaded or read
            (the message names the handle).
    """
    directory = resolve_preset(handle)
    try:
        network = load_model(directory, compile=compile, safe_mode=True)
    except (FileNotFoundError, ValueError) as exc:
        raise type(exc)(f"preset {os.fspath(handle)!r}: {exc}") from exc
    metadata = json.loads((directory / PRESET_METADATA_FILE).read_text(encoding="utf-8"))
    network.preset_metadata = metadata
    return network
