"""The files of a TFRecord folder: ``manifest.json``, shard and index names, and the checks
that make a set complete.

A set is complete only when its manifest says so. The writer writes every shard and index
file under a temporary name, renames it into place, and writes ``manifest.json`` last
(atomically, too), listing for every file its name, record count, size and SHA-256
(``format: embedding_net.tfrecords/2``). A writer killed at any moment leaves no manifest
(or the previous one was already removed), so :func:`verify_split` refuses the folder.

Readers check, for the split they read: the manifest exists and is well-formed, every file
it lists exists with the listed size, the index holds the listed record count per shard,
and (``checksums``) each file's SHA-256. ``checksums=None`` (the default) hashes the files
when the split's files total at most :data:`CHECKSUM_LIMIT_BYTES` (1 GiB: about half a
second at the 1.7 GB/s of SHA-256 on a current CPU, plus the reading, which warms the page
cache for training anyway); larger sets get the size and count checks only, unless
``checksums=True``.

Manifests of format 1 (written before this check existed: no ``files`` entry) are still
read; their shards and index must exist, nothing more can be checked. Write them again to
get the checks.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from embedding_net.atomic import TEMP_MARKER, file_sha256, write_json_atomic

MANIFEST = "manifest.json"
#: the manifest format written now; 1 (no ``files`` entry) is still read
FORMAT = "embedding_net.tfrecords/2"
#: ``checksums=None`` hashes a split's files when they total at most this many bytes
CHECKSUM_LIMIT_BYTES = 1 << 30


class TFRecordSetError(ValueError):
    """A TFRecord folder is incomplete (no manifest: the writer was stopped), its manifest is
    malformed, or a file differs from what the manifest records; the message names the
    folder or file and what was expected."""


def _json_error(path: Path, error: json.JSONDecodeError) -> TFRecordSetError:
    return TFRecordSetError(
        f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
        "the TFRecord set is incomplete or damaged: write it again with --overwrite"
    )


def read_manifest(directory: str | os.PathLike) -> dict:
    """Load and check ``directory/manifest.json``.

    Raises:
        FileNotFoundError: no manifest (the message names the path).
        TFRecordSetError: not JSON (the message gives the line), or a key missing or of the
            wrong type (the message names it).
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: write the TFRecords with write_tfrecords first"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise _json_error(path, error) from None
    except UnicodeDecodeError as error:
        raise TFRecordSetError(f"{path}: not UTF-8 text ({error})") from None
    _check_manifest(path, manifest)
    return manifest


def manifest_version(manifest: dict) -> int:
    """1 or 2: the format number of a checked manifest (1 when it names none)."""
    return int(str(manifest.get("format", "embedding_net.tfrecords/1")).rsplit("/", 1)[1])


def _expect(path: Path, where: str, value, kind, what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TFRecordSetError(f"{path}: {where} must be {what}, got {value!r}")


def _check_manifest(path: Path, manifest) -> None:
    """TFRecordSetError naming ``path`` and the key when ``manifest`` is not of format 1/2."""
    _expect(path, "the manifest", manifest, dict, "a JSON object")
    fmt = manifest.get("format", "embedding_net.tfrecords/1")
    if not isinstance(fmt, str) or not re.fullmatch(r"embedding_net\.tfrecords/[12]", fmt):
        raise TFRecordSetError(
            f"{path}: format {fmt!r} is not embedding_net.tfrecords/1 or /2 (a newer "
            "embedding_net wrote it, or it is not a TFRecord manifest)"
        )
    if "splits" not in manifest:
        raise TFRecordSetError(f"{path}: the key 'splits' is missing")
    _expect(path, "'splits'", manifest["splits"], dict, "an object {split: entry}")
    for name, entry in manifest["splits"].items():
        where = f"splits.{name}"
        _expect(path, where, entry, dict, "an object")
        for key, kind, what in (
            ("shards", list, "a list of file names"),
            ("index", str, "a file name"),
            ("num_images", int, "an integer"),
        ):
            if key not in entry:
                raise TFRecordSetError(f"{path}: the key '{where}.{key}' is missing")
            _expect(path, f"{where}.{key}", entry[key], kind, what)
        for shard in entry["shards"]:
            _expect(path, f"{where}.shards[]", shard, str, "a file name")
        if fmt.endswith("/2"):
            _check_files(path, where, entry)


def _check_files(path: Path, where: str, entry: dict) -> None:
    files = entry.get("files")
    _expect(path, f"{where}.files", files, list, "a list of {name, records, bytes, sha256}")
    for info in files:
        _expect(path, f"{where}.files[]", info, dict, "an object")
        for key, kind in (("name", str), ("bytes", int), ("sha256", str)):
            _expect(path, f"{where}.files[].{key}", info.get(key), kind, f"a {kind.__name__}")
        if info.get("records") is not None:
            _expect(path, f"{where}.files[].records", info["records"], int, "an integer")
    named = {info["name"] for info in files}
    missing = [n for n in (*entry["shards"], entry["index"]) if n not in named]
    if missing:
        raise TFRecordSetError(f"{path}: {where}.files does not list {missing}")


def file_entry(path: Path, records: int | None, name: str | None = None) -> dict:
    """The manifest entry of one written file: ``name`` (default: the file's), record
    count (None for an index), size and SHA-256."""
    return {
        "name": name or path.name,
        "records": records,
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
    }


def write_manifest(directory: Path, manifest: dict) -> dict:
    """Write ``manifest`` to ``directory/manifest.json`` atomically; returns it."""
    write_json_atomic(Path(directory) / MANIFEST, manifest)
    return manifest


def verify_split(directory: str | os.PathLike, split: str, checksums: bool | None = None) -> dict:
    """Check that ``split`` of the TFRecord set in ``directory`` is complete (see the module
    docstring); returns the manifest.

    Args:
        directory: a folder written by :func:`~embedding_net.data.write_tfrecords`.
        split: the split to check.
        checksums: hash every file (True), never (False), or when the split's files total
            at most :data:`CHECKSUM_LIMIT_BYTES` (None).

    Raises:
        TFRecordSetError: no manifest although the folder holds shards (an interrupted
            write), a malformed manifest, or a file missing or differing from its entry.
        FileNotFoundError: no manifest and no shard.
        ValueError: ``split`` is not in the manifest.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file() and existing_outputs(directory):
        raise TFRecordSetError(
            f"{directory} holds TFRecord files but no {MANIFEST} (written last): the set is "
            "incomplete (its writer was stopped); write it again with --overwrite"
        )
    manifest = read_manifest(directory)
    if split not in manifest["splits"]:
        raise ValueError(f"split={split!r} not in {path} (has {sorted(manifest['splits'])})")
    entry = manifest["splits"][split]
    for name in (*entry["shards"], entry["index"]):
        if not (directory / name).is_file():
            raise TFRecordSetError(
                f"{directory / name} is missing: {path} lists it in split {split!r}; the set "
                "is incomplete, write it again with --overwrite"
            )
    if manifest_version(manifest) >= 2:
        _verify_files(directory, split, entry, checksums)
    return manifest


def _verify_files(directory: Path, split: str, entry: dict, checksums: bool | None) -> None:
    files = {info["name"]: info for info in entry["files"]}
    for name in (*entry["shards"], entry["index"]):
        size = (directory / name).stat().st_size
        if size != files[name]["bytes"]:
            raise TFRecordSetError(
                f"{directory / name} has {size} bytes, {directory / MANIFEST} records "
                f"{files[name]['bytes']}: the file is truncated or was replaced; write the "
                "set again with --overwrite"
            )
    _verify_counts(directory, split, entry, files)
    total = sum(files[name]["bytes"] for name in (*entry["shards"], entry["index"]))
    if checksums or (checksums is None and total <= CHECKSUM_LIMIT_BYTES):
        for name in (*entry["shards"], entry["index"]):
            if file_sha256(directory / name) != files[name]["sha256"]:
                raise TFRecordSetError(
                    f"{directory / name}: its SHA-256 differs from the one in "
                    f"{directory / MANIFEST}: the file is damaged; write the set again "
                    "with --overwrite"
                )


def _verify_counts(directory: Path, split: str, entry: dict, files: dict) -> None:
    """The index holds ``num_images`` records, each shard the count its entry records."""
    index = directory / entry["index"]
    try:
        with np.load(index) as z:
            shard = np.asarray(z["shard"])
    except Exception as error:  # a damaged zip: BadZipFile, KeyError, ValueError, EOFError
        raise TFRecordSetError(
            f"{index} is not a readable index ({type(error).__name__}: {error}); write the "
            "set again with --overwrite"
        ) from None
    counts = np.bincount(shard, minlength=len(entry["shards"])) if len(shard) else []
    if len(shard) != entry["num_images"]:
        raise TFRecordSetError(
            f"{index} holds {len(shard)} records, {directory / MANIFEST} records "
            f"{entry['num_images']} in split {split!r}"
        )
    for k, name in enumerate(entry["shards"]):
        expected = files[name].get("records")
        got = int(counts[k]) if len(shard) else 0
        if expected is not None and got != expected:
            raise TFRecordSetError(
                f"{directory / name}: {index.name} lists {got} records in it, "
                f"{directory / MANIFEST} records {expected}"
            )


def existing_outputs(output_dir: Path) -> list[Path]:
    """The manifest, shards and index files already in ``output_dir`` (sorted; [] if none),
    and the temporary files of an interrupted writer."""
    if not output_dir.exists():
        return []
    return sorted(
        [
            p
            for p in output_dir.iterdir()
            if p.name == MANIFEST
            or p.suffix == ".tfrecord"
            or p.name.endswith("-index.npz")
            or (p.name.startswith(".") and TEMP_MARKER in p.name)
        ]
    )


def remove_outputs(paths: list[Path]) -> None:
    """Remove the :func:`existing_outputs` ``paths``, the manifest first: an overwrite
    stopped midway leaves no manifest vouching for a mix of old and new shards."""
    for path in sorted(paths, key=lambda p: p.name != MANIFEST):
        path.unlink(missing_ok=True)
