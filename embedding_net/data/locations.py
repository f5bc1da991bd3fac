"""Where the project's shared real-image data lives.

Tests and examples read real images from ``../shared/data`` next to the checkout, or from the
directory named by the ``EMBEDDING_NET_DATA`` environment variable. The images are never part of
this repository.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "EMBEDDING_NET_DATA"


def data_root() -> Path:
    """Return the root of the shared data: ``$EMBEDDING_NET_DATA``, else ``../shared/data`` next
    to the source checkout or to the working directory.

    The path is returned whether or not it exists; use :func:`sample_dir` to require a set.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    # a source checkout (editable install), then the working directory's sibling folder
    candidates = [
        Path(__file__).resolve().parents[2].parent / "shared" / "data",
        Path.cwd().resolve().parent / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def sample_dir(*parts: str) -> Path:
    """Return ``data_root()/parts...``; raise FileNotFoundError naming the path when absent."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: set {ENV_VAR} to the folder holding 'sample/' and 'train/'"
        )
    return path
