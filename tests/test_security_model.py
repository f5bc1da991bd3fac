"""One test per statement of docs/security.md: what the server binds to, what it reads, what
the package never executes (Keras safe mode, ``yaml.safe_load``, no pickle, no eval/exec).

The "never" statements are checked twice: by a scan of the package's source (every call site,
so a new one cannot slip in) and by feeding the loader a hostile file."""

from __future__ import annotations

import ast
import inspect
import io
import json
from pathlib import Path

import numpy as np
import pytest

import embedding_net

PACKAGE = Path(embedding_net.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _trees():
    for path in SOURCES:
        yield path.relative_to(PACKAGE.parent), ast.parse(path.read_text(), filename=str(path))


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            owner = (
                func.value.id
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                else None
            )
            yield node, owner, name


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


class _Touch:
    """Unpickling or constructing this would create ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def tiny_app_service(tmp_path_factory):
    """A SearchService over a tiny random network and a 4-item index with paths."""
    pytest.importorskip("fastapi")
    from PIL import Image

    from embedding_net import BaseNetwork
    from embedding_net.app.service import SearchService
    from embedding_net.evaluation.index import EmbeddingIndex

    base = tmp_path_factory.mktemp("security")
    root, outside = base / "images", base / "outside"
    root.mkdir()
    outside.mkdir()
    for folder in (root, outside):
        Image.fromarray(np.full((16, 16, 3), 99, np.uint8)).save(folder / "a.png")
    network = BaseNetwork("simple_cnn", embedding_dim=4, input_shape=(16, 16, 3))
    index = EmbeddingIndex()
    paths = [str(root / "a.png"), str(outside / "a.png"), "../outside/a.png", "a.png"]
    index.add(np.eye(4, dtype=np.float32), labels=[0, 0, 1, 1], paths=paths)
    service = SearchService(
        network, index, image_root=root, max_upload_bytes=50_000, max_pixels=250_000
    )
    return service, root


def _png(shape) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros(shape, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- what the server binds to
def test_server_binds_loopback_by_default():
    pytest.importorskip("uvicorn")
    from embedding_net.app.server import server_config
    from embedding_net.cli import build_parser
    from embedding_net.cli.serve import _is_loopback

    args = build_parser().parse_args(["serve", "--model", "m.keras", "--index", "i.npz"])
    assert args.host == "127.0.0.1"
    assert inspect.signature(server_config).parameters["host"].default == "127.0.0.1"
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.5")


# ---------------------------------------------------------------- what the server reads
def test_server_reads_images_only_under_the_image_root(tiny_app_service):
    from embedding_net.app.images import ImageRejected

    service, _ = tiny_app_service
    assert service.thumbnail(0)[:8] == b"\x89PNG\r\n\x1a\n"  # under the root
    assert service.thumbnail(3)[:8] == b"\x89PNG\r\n\x1a\n"  # relative to the root
    for item in (1, 2):  # absolute outside the root, ../ out of it
        with pytest.raises(ImageRejected, match="not found") as caught:
            service.thumbnail(item)
        assert caught.value.status == 404


def test_server_serves_files_by_integer_id_only(tiny_app_service):
    from fastapi.testclient import TestClient

    from embedding_net.app.server import build_app

    client = TestClient(build_app(tiny_app_service[0]))
    for url in (
        "/api/items/..%2F..%2Fetc%2Fpasswd/thumbnail",
        "/api/items/%2Fetc%2Fpasswd",
        "/api/items/4/thumbnail",
        "/static/..%2F..%2Fetc%2Fpasswd",
    ):
        response = client.get(url)
        assert response.status_code in (404, 422), url
        assert b"root:" not in response.content


def test_server_refuses_uploads_over_the_byte_limit(tiny_app_service):
    from embedding_net.app.images import ImageRejected

    service, _ = tiny_app_service
    with pytest.raises(ImageRejected) as caught:
        service.decode_upload(b"\0" * 50_001)
    assert caught.value.status == 413


def test_server_refuses_decompression_bombs_before_decoding(tiny_app_service, monkeypatch):
    from embedding_net.app import images
    from embedding_net.app.images import ImageRejected

    service, _ = tiny_app_service
    bomb = _png((600, 600, 3))  # a 1 kB file of 360,000 pixels > 250,000
    assert len(bomb) < 5_000

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(images, "_decode_resize", no_decoding)
    with pytest.raises(ImageRejected, match="more than the limit") as caught:
        service.decode_upload(bomb)
    assert caught.value.status == 422


def test_error_bodies_show_no_traceback_and_no_absolute_path(tiny_app_service, monkeypatch):
    from fastapi.testclient import TestClient

    from embedding_net.app.server import build_app

    service, root = tiny_app_service
    client = TestClient(build_app(service), raise_server_exceptions=False)
    monkeypatch.setattr(service, "embed", lambda images: 1 / 0)
    bodies = [
        client.post("/api/search", params={"k": 2}, files={"image": ("a.png", _png((16, 16, 3)))}),
        client.get("/api/items/1/thumbnail"),  # outside the root
        client.post("/api/search", files={"image": ("a.png", b"junk")}),
    ]
    assert [r.status_code for r in bodies] == [500, 404, 422]
    for response in bodies:
        assert set(response.json()) == {"detail"}
        for secret in ("Traceback", 'File "', "ZeroDivisionError", str(root.parent)):
            assert secret not in response.text
    assert client.get("/api/items/1").json()["path"] is None


# ---------------------------------------------------------------- what it never executes
def test_models_load_in_keras_safe_mode_everywhere():
    from embedding_net.saving import load_model

    assert inspect.signature(load_model).parameters["safe_mode"].default is True
    sites = 0
    for path, tree in _trees():
        for call, _, name in _calls(tree):
            assert name != "enable_unsafe_deserialization", path
            safe_mode = _keyword(call, "safe_mode")
            if safe_mode is not None:
                assert not (isinstance(safe_mode, ast.Constant) and not safe_mode.value), (
                    f"{path}:{call.lineno} loads with safe_mode=False"
                )
            if name == "load_model":
                sites += 1
                assert isinstance(safe_mode, (type(None), ast.Constant, ast.Name)), path
    assert sites >= 3  # the library's load_model, the app, the training run


def test_a_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    import keras

    from embedding_net.cli import UsageError
    from embedding_net.cli._loading import load_model as cli_load_model

    marker = tmp_path / "ran"
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    loaders = [embedding_net.load_model, cli_load_model]
    try:
        from embedding_net.app.loading import load_network

        loaders.append(load_network)
    except ImportError:  # pragma: no cover - the app's module needs no extra to import
        pass
    for loader in loaders:
        with pytest.raises((ValueError, UsageError), match="(?i)safe|lambda"):
            loader(path)
    assert not marker.exists()


def test_configs_are_read_with_yaml_safe_load_only():
    unsafe = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
    safe_sites = 0
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "yaml":
                assert not {a.name for a in node.names} & (unsafe | {"Loader", "UnsafeLoader"})
            if isinstance(node, ast.Attribute) and node.attr in ("Loader", "UnsafeLoader"):
                assert getattr(node.value, "id", None) != "yaml", path
        for call, owner, name in _calls(tree):
            if owner == "yaml":
                if name == "load" and _loader_is_the_safe_subclass(call):
                    safe_sites += 1  # yaml.load(text, Loader=_unique_key_loader()): checked below
                    continue
                assert name not in unsafe, f"{path}:{call.lineno} yaml.{name}"
                safe_sites += name == "safe_load"
    assert safe_sites >= 1
    # the one Loader the package passes is yaml.SafeLoader plus a duplicate-key check: no
    # python/* constructor is added to it
    import yaml

    from embedding_net.data.text_files import _unique_key_loader

    loader = _unique_key_loader()
    assert issubclass(loader, yaml.SafeLoader)
    tags = set(loader.yaml_constructors) | set(loader.yaml_multi_constructors)
    assert not [t for t in tags if t and "python" in t], tags


def _loader_is_the_safe_subclass(call) -> bool:
    """``yaml.load(..., Loader=_unique_key_loader())``: the SafeLoader subclass of
    embedding_net.data.text_files (and nothing else)."""
    for keyword in call.keywords:
        if keyword.arg == "Loader":
            value = keyword.value
            return (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "_unique_key_loader"
            )
    return False


def test_a_yaml_python_object_tag_is_refused(tmp_path):
    from embedding_net.config import ConfigError, load_config

    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f'model: !!python/object/apply:builtins.open ["{marker}", "w"]\n')
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    assert not marker.exists()


def test_no_pickle_in_the_package():
    banned_modules = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, path
        for call, owner, name in _calls(tree):
            allow = _keyword(call, "allow_pickle")
            if allow is not None:
                assert isinstance(allow, ast.Constant) and allow.value is False, (
                    f"{path}:{call.lineno} allow_pickle is not False"
                )
            assert name not in ("read_pickle", "to_pickle"), f"{path}:{call.lineno}"
            assert not (owner == "torch" and name == "load"), f"{path}:{call.lineno}"


def test_an_object_array_index_is_refused(tmp_path):
    from embedding_net.evaluation.index import EmbeddingIndex

    marker = tmp_path / "ran"
    good = tmp_path / "good.npz"
    index = EmbeddingIndex()
    index.add(np.eye(3, dtype=np.float32), labels=[0, 1, 2])
    index.save(good)
    with np.load(good) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["labels"] = np.array([_Touch(marker)] * 3, dtype=object)  # pickled by savez
    evil = tmp_path / "evil.npz"
    np.savez(evil, **arrays)
    assert json.loads(str(arrays["header"]))["has_labels"] is True
    with pytest.raises(ValueError, match="not an EmbeddingIndex file"):
        EmbeddingIndex.load(evil)
    assert not marker.exists()


def test_no_eval_or_exec_in_the_package():
    for path, tree in _trees():
        for call, owner, name in _calls(tree):
            if isinstance(call.func, ast.Name):
                assert name not in ("eval", "exec", "compile", "__import__"), (
                    f"{path}:{call.lineno} calls {name}"
                )
            assert not (owner == "os" and name in ("system", "popen")), f"{path}:{call.lineno}"
