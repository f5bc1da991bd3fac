"""Input checking and conversion shared by the plotting functions.

Every plotting function accepts numpy arrays or backend tensors (TensorFlow, JAX, torch) and
turns them into numpy here, raising a ``ValueError`` that names the argument at fault.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.atomic import atomic_path

# Extra that provides the optional dependencies of this subpackage.
VIZ_EXTRA = "pip install embedding-net[viz]"


def to_numpy(value: Any) -> np.ndarray:
    """Convert a numpy array, list, or backend tensor (TF, JAX, torch) to a numpy array."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy") and callable(value.numpy):  # TF eager tensor
        return np.asarray(value.numpy())
    return np.asarray(value)


def require_plotly():
    """Import and return ``plotly.graph_objects``; ImportError naming the extra when missing."""
    if importlib.util.find_spec("plotly") is None:
        raise ImportError(f"interactive plots need plotly: {VIZ_EXTRA}")
    import plotly.graph_objects as go

    return go


def check_embeddings(embeddings: Any, name: str = "embeddings") -> np.ndarray:
    """Return ``embeddings`` as a finite float64 array of shape (N, D) with N >= 1."""
    array = to_numpy(embeddings)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (num_points, dim), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: need at least one point, got shape {array.shape}")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has zero dimensions, got shape {array.shape}")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(array), axis=1)))
        raise ValueError(f"{name} holds NaN or infinite values in {bad} row(s)")
    return array


def check_vector(
    values: Any, name: str, length: int | None = None, length_name: str | None = None
) -> np.ndarray:
    """Return ``values`` as a 1-D array, optionally of a given length."""
    array = to_numpy(values)
    if array.ndim != 1:
        array = array.reshape(-1) if array.ndim == 2 and 1 in array.shape else array
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if length is not None and array.shape[0] != length:
        other = length_name or "the other inputs"
        raise ValueError(
            f"{name} has {array.shape[0]} entries but {other} has {length}: lengths must match"
        )
    return array


def check_scores(values: Any, name: str, length: int | None = None, length_name=None):
    """Return finite float64 scores of shape (N,)."""
    array = check_vector(values, name, length, length_name).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def check_is_same(values: Any, name: str, length: int, length_name: str) -> np.ndarray:
    """Return a boolean array of shape (N,) from booleans or 0/1 values."""
    array = check_vector(values, name, length, length_name)
    if array.dtype != bool:
        if not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"{name} must be boolean or 0/1, got values {np.unique(array)[:5]}")
        array = array.astype(bool)
    return array


def check_pairs(scores: Any, is_same: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return finite float64 ``scores`` (N,) and boolean ``is_same`` (N,) holding both classes.

    Raises:
        ValueError: bad shapes, mismatched lengths, NaN scores, or ``is_same`` all True/all False.
    """
    scores = check_scores(scores, "scores")
    is_same = check_is_same(is_same, "is_same", scores.shape[0], "scores")
    if is_same.all() or not is_same.any():
        raise ValueError(
            "is_same must hold both same (True) and different (False) pairs, got only "
            f"{'same' if is_same.all() else 'different'}"
        )
    return scores, is_same


def check_images(images: Any, name: str, leading_dims: int = 1) -> np.ndarray:
    """Return images as float32 in [0, 1] with shape (*lead, h, w, 3).

    Args:
        images: uint8 images in [0, 255] or floats in [0, 1]; shape (*lead, h, w), (*lead, h, w, 1)
            or (*lead, h, w, 3).
        name: argument name for error messages.
        leading_dims: number of leading batch axes (1 for (N, h, w, c), 2 for (Q, k, h, w, c)).
    """
    array = to_numpy(images)
    ndim = array.ndim - leading_dims
    if ndim == 2:
        array = array[..., None]
    elif ndim != 3:
        lead = "N" if leading_dims == 1 else "N, k"
        raise ValueError(
            f"{name} must have shape ({lead}, h, w) or ({lead}, h, w, channels), got {array.shape}"
        )
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = array[..., :3]
    elif array.shape[-1] != 3:
        raise ValueError(f"{name} must have 1, 3 or 4 channels, got shape {array.shape}")
    if any(s == 0 for s in array.shape):
        raise ValueError(f"{name} is empty, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite pixel values")
    if array.min() < -1e-6 or array.max() > 1.0 + 1e-6:
        raise ValueError(
            f"{name}: float images must lie in [0, 1] (got range [{array.min():.3g}, "
            f"{array.max():.3g}]); pass uint8 for 0..255 values"
        )
    return np.clip(array, 0.0, 1.0)


def new_figure(width: float, height: float, dpi: int = 100):
    """Create a matplotlib Figure with an Agg canvas (no pyplot global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: str | Path | None) -> None:
    """Save ``figure`` to ``path`` (format from the suffix: .png, .svg, .pdf) when given."""
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
        raise ValueError(f"path must end in .png, .svg, .pdf or .jpg, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # the temporary name keeps the suffix; say the format anyway
        figure.savefig(tmp, bbox_inches="tight", format=path.suffix.lower()[1:])
