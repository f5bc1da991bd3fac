"""Loading what the app serves: the network (Keras safe mode), the index, class names."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def load_network(model_path: str | os.PathLike):
    """Load an embedding network in Keras safe mode (no arbitrary code, no pickle).

    Args:
        model_path: a ``.keras`` file saved by ``model.save``, a preset directory written by
            :meth:`~embedding_net.BaseNetwork.save_to_preset`, or a preset's ``hf://`` /
            ``kaggle://`` handle (downloaded).

    Returns:
        the embedding network: the loaded model, or its ``.network`` for a siamese / triplet
        training model (a :class:`~embedding_net.BaseNetwork` for files this library writes).

    Raises:
        FileNotFoundError: ``model_path`` does not exist.
        ValueError: not a ``.keras`` file or a preset, or Keras cannot load it in safe mode.
    """
    text = os.fspath(model_path)
    path = Path(text)
    if text.startswith(("hf://", "kaggle://")) or path.is_dir():
        from embedding_net.models.presets import load_preset

        try:
            return load_preset(text)
        except FileNotFoundError:
            raise
        except Exception as exc:  # Keras raises many types for a bad file
            raise ValueError(f"model: cannot load the preset {text}: {exc}") from exc
    if not path.is_file():
        raise FileNotFoundError(
            f"model: {path} does not exist (expected a .keras file or a preset directory)"
        )
    if path.suffix != ".keras":
        raise ValueError(f"model: {path} is not a .keras file (save the network with .save())")

    from embedding_net.saving import load_model

    try:
        model = load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ValueError(f"model: cannot load {path} in Keras safe mode: {exc}") from exc
    # a SiameseModel / TripletModel wraps its embedding network as ``.network``
    return getattr(model, "network", model)


def load_index(index_path: str | os.PathLike):
    """Load an :class:`~embedding_net.evaluation.EmbeddingIndex` file (``allow_pickle=False``)."""
    from embedding_net.evaluation.index import EmbeddingIndex

    path = Path(index_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"index: {path} does not exist (build one with `embedding-net encode`)"
        )
    return EmbeddingIndex.load(path)


def _network_image_shape(model) -> tuple[int, int, int]:
    shape = getattr(model, "image_shape", None)
    if shape is None:
        shape = tuple(model.input_shape[1:])
    shape = tuple(int(s) if s is not None else -1 for s in shape)
    if len(shape) != 3 or min(shape) < 1 or shape[-1] not in (1, 3):
        raise ValueError(
            f"model: expected images of a fixed (height, width, 1 or 3) shape, got {shape}"
        )
    return shape


def _network_embedding_dim(model) -> int:
    dim = getattr(model, "embedding_dim", None)
    if dim is None:
        dim = model.output_shape[-1]
    return int(dim)


def read_class_names(path: str | os.PathLike) -> dict[str, str]:
    """Read ``label -> display name`` from a CSV with a header row (first column the label,
    second the name), e.g. GTSRB's ``class_names.csv``: :func:`embedding_net.data.labels.read_class_names`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: (``ParseError``) binary or not UTF-8, fewer than two columns, no rows, a
            malformed row (file and line named).
    """
    from embedding_net.data.labels import read_class_names as read

    return read(path)


def _lookup_name(names: dict[str, str], label) -> str | None:
    key = str(label)
    if key in names:
        return names[key]
    try:  # "07" (a class folder) matches "7" (a class id)
        return names.get(str(int(key)))
    except ValueError:
        return None


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_positive(**values) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_index_fits(index, index_name: str, model_name: str, embedding_dim: int) -> None:
    """Refuse an empty index or one whose embedding size is not the network's.

    Raises:
        ValueError: naming both files and what to do.
    """
    if len(index) == 0:
        raise ValueError(f"index {index_name} is empty: nothing to search")
    if index.dim != embedding_dim:
        raise ValueError(
            f"index {index_name} holds {index.dim}-d embeddings but model "
            f"{model_name} outputs {embedding_dim}-d embeddings: build the index "
            "with this model (`embedding-net encode`) or serve the model it was built with"
        )
