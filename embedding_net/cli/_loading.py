"""Shared helpers of the inference subcommands: load a model, its embedding network, images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from embedding_net.cli import UsageError
from embedding_net.data.datasets import find_layout, layout_names

# layouts of an image folder: what ``--layout`` of encode / evaluate / visualize accepts
LAYOUTS = layout_names(image_files=True, source="folder")


def layout_argument(value: str) -> str:
    """argparse ``type=`` of ``--layout``: a deprecated spelling becomes its layout's name
    with a warning on stderr; other values are returned as given (``choices`` rejects them)."""
    layout = find_layout(value)
    if layout is None or layout.name == value:
        return value
    print(
        f"embedding-net: warning: --layout {value} is deprecated, use --layout {layout.name}",
        file=sys.stderr,
    )
    return layout.name


def load_model(path):
    """``keras.saving.load_model(path)`` (safe mode) with the library's classes registered;
    ``path`` may also be a preset directory (``BaseNetwork.save_to_preset``) or a preset's
    ``hf://`` / ``kaggle://`` handle.

    Raises:
        UsageError: the file does not exist, is not a ``.keras`` file or a preset, or is not
            a complete zip archive (a truncated file).
    """
    text = os.fspath(path)
    path = Path(text)
    if text.startswith(("hf://", "kaggle://")) or path.is_dir():
        from embedding_net.models.presets import load_preset

        try:
            return load_preset(text)
        except (FileNotFoundError, ValueError, ImportError) as exc:
            raise UsageError(f"--model {text}: {exc}") from None
    if not path.is_file():
        raise UsageError(f"--model {path} does not exist")
    if path.suffix != ".keras":
        raise UsageError(
            f"--model {path}: expected a .keras file saved by Keras 3 or a preset directory"
        )
    import zipfile

    from embedding_net.saving import load_model as load

    if not zipfile.is_zipfile(path):
        raise UsageError(
            f"--model {path} is not a complete .keras archive (truncated or damaged: a run "
            "stopped while writing it?); train again or use the run's best.keras/final.keras"
        )
    return load(path)


def embedding_network(model):
    """The network mapping images to embeddings (``model.network`` of siamese/triplet models)."""
    return getattr(model, "network", model)


def image_size_of(network) -> tuple[int, int]:
    """``(height, width)`` the network expects."""
    shape = getattr(network, "image_shape", None)
    if shape is None:
        shape = tuple(network.input_shape)[1:]
    if shape[0] is None or shape[1] is None:
        raise UsageError("the model has no fixed input size; pass --image-size H W")
    return int(shape[0]), int(shape[1])


def load_image_files(paths, image_size) -> np.ndarray:
    """uint8 ``(n, h, w, 3)`` images of files named on the command line; all must be readable."""
    from embedding_net.data import load_images

    for p in paths:
        if not os.path.isfile(p):
            raise UsageError(f"image {p} does not exist")
    loaded = load_images([os.fspath(p) for p in paths], image_size=tuple(image_size))
    if len(loaded.kept) != len(paths):
        bad = sorted(set(range(len(paths))) - set(loaded.kept.tolist()))
        raise UsageError(f"image {paths[bad[0]]} cannot be decoded")
    return loaded.images


def list_folder(root, layout: str, people_file=None) -> list:
    """``ImageRecord`` s of a dataset folder read as ``layout`` (see
    :data:`embedding_net.data.datasets.LAYOUTS`)."""
    from embedding_net.data.datasets import get_layout

    if not Path(root).is_dir():
        raise UsageError(f"{root} is not a folder")
    return get_layout(layout).read(root, people_file).records


def check_output(path, overwrite: bool, what: str = "--output") -> Path:
    """Refuse to replace an existing file unless ``--overwrite``; create the parent folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UsageError(f"{what} {path} exists: pass --overwrite to replace it")
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder, expected a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def encode(network, images, batch_size: int = 64, flip: bool = False) -> np.ndarray:
    """Embeddings of uint8 images (optionally with flip test-time augmentation)."""
    from embedding_net.evaluation import encode_images, encode_with_flip

    if flip:
        return encode_with_flip(network, images, batch_size)
    return encode_images(network, images, batch_size)
