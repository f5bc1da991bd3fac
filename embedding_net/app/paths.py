"""Which image files the app may open, and how their paths are shown to clients.

The index stores image paths as ``embedding-net encode`` saw them (often absolute paths of the
machine that encoded it). The server never shows those: a client sees a path *relative to the
image root* (``--image-root``) when the file lies under it, and ``None`` otherwise, so no
response carries an absolute path of the serving machine. With an image root, thumbnails are
read only from files under it (a stored ``../`` or an absolute path elsewhere is refused);
without one, only the files the index lists are read, looked up as stored, then under the
index file's folder.

Containment is decided on normalised absolute paths (``os.path.abspath``: ``..`` removed
lexically), so a path cannot climb out of the root; a symbolic link placed *inside* the root by
the operator is followed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


def _normalised(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def relative_to_root(stored: str, root: Path | None) -> str | None:
    """The client-facing form of an indexed path: relative to ``root`` (POSIX separators) or None.

    Args:
        stored: the path as stored in the index (absolute, or relative to ``root``).
        root: the image root; None shows no path at all.

    Returns:
        ``"train/39/00003_00029.png"`` for a file under ``root``; None when there is no root,
        the path climbs out of it (``../``), or it is an absolute path elsewhere.
    """
    if root is None or not stored:
        return None
    root = _normalised(root)
    path = Path(stored)
    candidate = _normalised(path if path.is_absolute() else root / path)
    try:
        relative = candidate.relative_to(root)
    except ValueError:
        return None
    text = PurePosixPath(*relative.parts).as_posix()
    return None if text in ("", ".") else text


def resolve_image(stored: str, root: Path | None, index_dir: Path | None) -> Path | None:
    """The file to open for an indexed path, or None when it is missing or not allowed.

    Args:
        stored: the path as stored in the index.
        root: the image root; when given, only files under it are returned.
        index_dir: the index file's folder (second place a relative path is looked up when
            there is no image root).

    Returns:
        an existing file's path, or None.
    """
    if not stored:
        return None
    if root is not None:
        relative = relative_to_root(stored, root)
        candidates = [] if relative is None else [_normalised(root) / relative]
    else:
        path = Path(stored)
        candidates = [path]
        if not path.is_absolute() and index_dir is not None:
            candidates.append(index_dir / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def public_name(name: str) -> str:
    """A file name without its folders (``/srv/models/net.keras`` -> ``net.keras``)."""
    return Path(str(name)).name or str(name)
