"""Helpers for the visualisation tests: decode a rendered PNG and check it is a real picture."""

from __future__ import annotations

import numpy as np
from PIL import Image


def load_png(path, min_width: int = 200, min_height: int = 150) -> np.ndarray:
    """Decode ``path`` and check it is a non-blank picture of at least the given size."""
    assert path.exists(), f"{path} was not written"
    assert path.stat().st_size > 0
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        pixels = np.asarray(picture.convert("RGB"))
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, f"{path}: {width}x{height} is too small"
    assert pixels.std() > 5, f"{path} looks blank (pixel std {pixels.std():.2f})"
    return pixels


def count_colour(pixels: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    """Number of pixels within ``tolerance`` (per channel) of ``hex_colour``."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(pixels.astype(int) - rgb) <= tolerance, axis=-1).sum())
