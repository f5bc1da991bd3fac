"""Crash-safe file writes: write to a temporary name in the same folder, then rename.

A process killed while it writes (SIGKILL, a full disk, a power cut) leaves either the old
file or the new one under the final name, never a truncated file that a later ``--resume``,
``encode`` or reader would take as valid::

    with atomic_path("run/network.keras") as tmp:   # run/.network.keras.tmp-<pid>-<rand>.keras
        network.save(tmp)                             # renamed to run/network.keras on success
    write_json_atomic("run/metrics.json", summary)

The temporary file is hidden (its name starts with ``.``), carries the final suffix (Keras,
matplotlib and NumPy check or infer the format from it) and :data:`TEMP_MARKER`; it is
fsync'd before :func:`os.replace` moves it into place, and the folder is fsync'd after
(where the platform allows), so the rename survives a power cut too. When the block raises,
the temporary file is removed and the old file, if any, is left as it was. A process killed
inside the block leaves its hidden temporary file behind: :func:`leftover_temporaries` finds
them (and nothing reads them: their names are not the names readers look for).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_MARKER",
    "atomic_path",
    "file_sha256",
    "leftover_temporaries",
    "remove_leftover_temporaries",
    "temporary_name",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

#: part of every temporary name: ``.<name>.tmp-<pid>-<random><suffix>``
TEMP_MARKER = ".tmp-"


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh hidden temporary path next to ``path`` ending in the same suffixes
    (``.weights.h5`` stays ``.weights.h5``, as Keras requires)."""
    path = Path(path)
    tag = f"{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}{tag}{''.join(path.suffixes)}")


def _fsync_file(path: Path) -> None:
    if path.is_dir():  # a SavedModel folder: sync its files
        for child in path.rglob("*"):
            if child.is_file():
                _fsync_file(child)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, fsync: bool = True, missing_ok: bool = False
) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on a clean exit of the
    block it is fsync'd and renamed to ``path`` (replacing it), on an error it is removed.

    Args:
        path: the final file (its folder must exist). A folder written in the block (a
            SavedModel) is moved into place too; an existing folder at ``path`` (or a file
            where a folder is moved) is removed just before the rename (that step alone is
            not atomic).
        fsync: flush the file and the folder to disk before and after the rename.
        missing_ok: a block that writes nothing leaves ``path`` as it is (a callback that
            saves only on some epochs); otherwise that is an error.

    Raises:
        FileNotFoundError: the block exited cleanly but wrote nothing at the temporary path
            (and not ``missing_ok``).
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not tmp.exists() and missing_ok:
            return
        if not tmp.exists():
            raise FileNotFoundError(f"atomic_path({str(path)!r}): nothing was written to {tmp}")
        if fsync:
            _fsync_file(tmp)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # os.replace cannot replace a non-empty folder
        elif tmp.is_dir() and path.exists():
            path.unlink()
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    if fsync:
        _fsync_directory(path.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path


def write_text_atomic(
    path: str | os.PathLike, text: str, encoding: str = "utf-8", fsync: bool = True
) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    return write_bytes_atomic(path, text.encode(encoding), fsync=fsync)


def write_json_atomic(
    path: str | os.PathLike, value: Any, indent: int | None = 1, fsync: bool = True
) -> Path:
    """Write ``value`` as JSON to ``path`` atomically (see :func:`atomic_path`); returns
    ``path``. The value is serialised before anything is written, so a value that JSON
    cannot hold leaves the old file intact."""
    return write_text_atomic(path, json.dumps(value, indent=indent), fsync=fsync)


def leftover_temporaries(directory: str | os.PathLike) -> list[Path]:
    """The temporary files that killed writers left in ``directory`` (not recursive;
    sorted)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.name.startswith(".") and TEMP_MARKER in p.name
    )


def remove_leftover_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove :func:`leftover_temporaries` of ``directory`` (call it only where no other
    process writes); returns the removed paths."""
    removed = leftover_temporaries(directory)
    for path in removed:
        _remove(path)
    return removed


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes (read in ``chunk_size`` pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
