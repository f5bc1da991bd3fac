"""embedding_net.atomic: temporary name + rename, nothing half-written under the final name."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from embedding_net import atomic
from embedding_net.atomic import (
    atomic_path,
    leftover_temporaries,
    remove_leftover_temporaries,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def test_new_file_is_written_and_no_temporary_is_left(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "hello")
    assert path.read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_replace_of_an_existing_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")
    write_json_atomic(path, {"a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2]}
    assert leftover_temporaries(tmp_path) == []


def test_error_in_the_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "network.keras"
    path.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network.keras"]


def test_a_value_json_cannot_hold_leaves_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"ok": 1}')
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert path.read_text() == '{"ok": 1}'
    assert leftover_temporaries(tmp_path) == []


def test_temporary_name_is_hidden_with_the_same_suffix(tmp_path):
    with atomic_path(tmp_path / "final.keras") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".final.keras.tmp-")
        assert tmp.suffix == ".keras"
        assert str(os.getpid()) in tmp.name
        tmp.write_bytes(b"x")
    assert (tmp_path / "final.keras").read_bytes() == b"x"


def test_two_temporary_names_differ(tmp_path):
    assert atomic.temporary_name(tmp_path / "a.txt") != atomic.temporary_name(tmp_path / "a.txt")


def test_block_that_writes_nothing_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(tmp_path / "a.bin"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_file_and_folder_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    write_bytes_atomic(tmp_path / "a.bin", b"123")
    assert len(synced) == 2  # the temporary file, then the folder
    synced.clear()
    write_bytes_atomic(tmp_path / "b.bin", b"123", fsync=False)
    assert synced == []


def test_unicode_names(tmp_path):
    folder = tmp_path / "répertoire ünïcode"
    folder.mkdir()
    path = write_text_atomic(folder / "métriques-日本.json", "données ✓")
    assert path.read_text(encoding="utf-8") == "données ✓"
    assert [p.name for p in folder.iterdir()] == ["métriques-日本.json"]


def test_a_folder_written_in_the_block_replaces_the_old_one(tmp_path):
    path = tmp_path / "saved_model"
    path.mkdir()
    (path / "old.pb").write_text("old")
    with atomic_path(path) as tmp:
        tmp.mkdir()
        (tmp / "new.pb").write_text("new")
    assert [p.name for p in path.iterdir()] == ["new.pb"]
    assert leftover_temporaries(tmp_path) == []


def test_leftover_temporaries_are_found_and_removed(tmp_path):
    (tmp_path / "network.keras").write_bytes(b"x")
    leftover = atomic.temporary_name(tmp_path / "network.keras")
    leftover.write_bytes(b"half")
    assert leftover_temporaries(tmp_path) == [leftover]
    assert remove_leftover_temporaries(tmp_path) == [leftover]
    assert [p.name for p in tmp_path.iterdir()] == ["network.keras"]
    assert leftover_temporaries(tmp_path / "missing") == []


def test_file_sha256(tmp_path):
    import hashlib

    path = write_bytes_atomic(tmp_path / "a.bin", b"x" * 3000)
    assert atomic.file_sha256(path, chunk_size=1000) == hashlib.sha256(b"x" * 3000).hexdigest()


def test_missing_ok_block_that_writes_nothing_keeps_the_old_file(tmp_path):
    path = write_text_atomic(tmp_path / "best.keras", "old")
    with atomic_path(path, missing_ok=True):
        pass
    assert path.read_text() == "old"
    assert leftover_temporaries(tmp_path) == []


def test_the_module_uses_the_standard_library_only():
    tree = ast.parse(Path(atomic.__file__).read_text(encoding="utf-8"))
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules <= {
        "__future__",
        "contextlib",
        "hashlib",
        "json",
        "os",
        "secrets",
        "shutil",
        "collections",
        "pathlib",
        "typing",
    }
