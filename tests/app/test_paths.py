"""Client-facing paths and readable files: relative to the image root, or none."""

from __future__ import annotations

from pathlib import Path

from embedding_net.app.paths import public_name, relative_to_root, resolve_image


def test_relative_to_root_shows_only_paths_under_the_root(tmp_path):
    root = tmp_path / "images"
    assert relative_to_root(str(root / "cats" / "a.png"), root) == "cats/a.png"
    assert relative_to_root("cats/a.png", root) == "cats/a.png"
    assert relative_to_root("cats/../dogs/b.png", root) == "dogs/b.png"
    assert relative_to_root(f"{root}/./cats//a.png", root) == "cats/a.png"
    assert relative_to_root(str(tmp_path / "images2" / "a.png"), root) is None  # a sibling
    assert relative_to_root("../outside.png", root) is None
    assert relative_to_root("cats/../../outside.png", root) is None
    assert relative_to_root("/etc/passwd", root) is None
    assert relative_to_root(str(root), root) is None  # the root itself is no file
    assert relative_to_root("", root) is None
    assert relative_to_root(str(root / "a.png"), None) is None  # no root: no path
    assert relative_to_root("a.png", f"{root}/") == "a.png"


def test_resolve_image_reads_only_under_the_root(tmp_path, monkeypatch):
    root, outside = tmp_path / "images", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "a.png").write_bytes(b"x")
    (outside / "b.png").write_bytes(b"x")
    assert resolve_image("a.png", root, None) == root / "a.png"
    assert resolve_image(str(root / "a.png"), root, None) == root / "a.png"
    assert resolve_image(str(outside / "b.png"), root, None) is None
    assert resolve_image("../outside/b.png", root, None) is None
    assert resolve_image("missing.png", root, None) is None
    assert resolve_image("", root, None) is None
    # without a root: as stored (absolute or relative to the working directory), then the
    # index file's folder
    assert resolve_image(str(outside / "b.png"), None, None) == outside / "b.png"
    assert resolve_image("b.png", None, outside) == outside / "b.png"
    monkeypatch.chdir(root)
    assert resolve_image("a.png", None, outside) == Path("a.png")


def test_public_name_drops_folders():
    assert public_name("/srv/models/net.keras") == "net.keras"
    assert public_name("net.keras") == "net.keras"
    assert public_name("model") == "model"
