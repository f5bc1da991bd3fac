"""What any client of the real server (uvicorn on 127.0.0.1) sees: paths relative to the image
root or none, short JSON errors with the right status, never a traceback or an absolute path
of the serving machine."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import embedding_net
from tests.app.conftest import EMBEDDING_DIM, live_server, png_bytes

httpx = pytest.importorskip("httpx")

TRACEBACK_MARKS = ("Traceback", 'File "', "site-packages")


@pytest.fixture(scope="module")
def tricky(network, gallery, tmp_path_factory):
    """(service, root, outside): an index whose paths are fine, missing, corrupt, outside the
    root (absolute and ``../``) or relative to the root."""
    from embedding_net.app.service import SearchService
    from embedding_net.evaluation.index import EmbeddingIndex

    _, _, files = gallery
    base = tmp_path_factory.mktemp("tricky")
    root, outside = base / "images", base / "elsewhere"
    (root / "cats").mkdir(parents=True)
    outside.mkdir()
    good = root / "cats" / "good.png"
    shutil.copy(files[0], good)
    (root / "cats" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    shutil.copy(files[1], outside / "secret.png")
    paths = [
        str(good),  # 0: absolute, under the root
        str(root / "cats" / "missing.png"),  # 1: under the root, missing
        str(root / "cats" / "corrupt.png"),  # 2: under the root, not an image
        str(outside / "secret.png"),  # 3: absolute, outside the root
        "../elsewhere/secret.png",  # 4: relative, climbs out of the root
        "cats/good.png",  # 5: relative to the root
    ]
    rng = np.random.default_rng(0)
    index = EmbeddingIndex()
    index.add(
        rng.normal(size=(len(paths), EMBEDDING_DIM)).astype(np.float32),
        labels=["cat", "cat", "cat", "dog", "dog", "cat"],
        paths=paths,
    )
    service = SearchService(
        network, index, image_root=root, model_name=str(base / "net.keras"), map_max_iter=250
    )
    return service, root, outside


@pytest.fixture(scope="module")
def served(tricky):
    from embedding_net.app.server import build_app

    service, _, _ = tricky
    app = build_app(service)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, service


def _forbidden(root: Path, outside: Path) -> list[str]:
    repo = Path(embedding_net.__file__).resolve().parents[1]
    return [
        str(root),
        str(outside),
        str(root.parent),
        str(repo),
        str(Path.home()) + "/",
        os.getcwd(),
    ]


def _check_public(response, forbidden):
    text = response.text
    for secret in forbidden:
        assert secret not in text, (response.request.url, secret, text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json", response.request.url
        detail = response.json()["detail"]
        assert isinstance(detail, str) and 0 < len(detail) <= 1000
        for mark in TRACEBACK_MARKS:
            assert mark not in detail, (response.request.url, detail)


def _requests(client, good_png):
    bad_png = good_png[: len(good_png) // 2]
    upload = {"image": ("q.png", good_png, "image/png")}
    yield client.get("/")
    yield client.get("/api/info")
    yield client.get("/api/map")
    yield client.get("/map")
    yield client.get("/openapi.json")
    for item in ("0", "1", "2", "3", "4", "5", "6", "-1", "abc", "..%2F..%2Fetc%2Fpasswd"):
        yield client.get(f"/api/items/{item}")
        yield client.get(f"/api/items/{item}/thumbnail")
    yield client.get("/no/such/route")
    yield client.put("/api/search")
    yield client.post("/api/search", files=upload)
    yield client.post("/api/search", params={"k": 2}, files=upload)
    yield client.post("/api/search", params={"k": "many"}, files=upload)
    yield client.post("/api/search", params={"k": 0}, files=upload)
    yield client.post("/api/search", files={"image": ("q.png", b"")})
    yield client.post("/api/search", files={"image": ("q.png", bad_png)})
    yield client.post("/api/search", files={"image": ("q.txt", b"not an image at all")})
    yield client.post("/api/search", files={"other": ("q.png", good_png)})
    yield client.post("/api/search", json={"image": "x"})
    yield client.post(
        "/api/search",
        content=b"--xx\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=xx"},
    )
    yield client.post(  # no boundary: the body cannot be parsed (400)
        "/api/search", content=b"garbage", headers={"content-type": "multipart/form-data"}
    )
    files = {"image_a": ("a.png", good_png), "image_b": ("b.png", bad_png)}
    yield client.post("/api/compare", files=files)
    yield client.post(
        "/api/compare", files={"image_a": ("a.png", good_png), "image_b": files["image_a"]}
    )


def test_no_response_shows_an_absolute_path_or_a_traceback(served, tricky):
    client, _ = served
    _, root, outside = tricky
    good = png_bytes(np.full((32, 32, 3), 120, np.uint8))
    forbidden = _forbidden(root, outside)
    statuses = []
    for response in _requests(client, good):
        _check_public(response, forbidden)
        statuses.append(response.status_code)
    assert {200, 400, 404, 405, 415, 422} <= set(statuses), statuses


def test_paths_are_relative_to_the_image_root_or_none(served):
    client, _ = served
    paths = [client.get(f"/api/items/{i}").json()["path"] for i in range(6)]
    assert paths == [
        "cats/good.png",
        "cats/missing.png",
        "cats/corrupt.png",
        None,  # absolute, outside the root
        None,  # ../ out of the root
        "cats/good.png",
    ]
    assert client.get("/api/map").json()["paths"] == [paths[i] for i in range(6)]
    info = client.get("/api/info").json()
    assert info["model"] == "net.keras" and info["has_image_root"] is True


def test_thumbnails_only_under_the_image_root(served):
    client, _ = served
    codes = [client.get(f"/api/items/{i}/thumbnail").status_code for i in range(6)]
    assert codes == [200, 404, 404, 404, 404, 200]
    details = [client.get(f"/api/items/{i}/thumbnail").json()["detail"] for i in (1, 2, 3)]
    assert details == [
        "image of item 1 not found: cats/missing.png",  # relative to the root
        "image of item 2 cannot be read",
        "image of item 3 not found",  # outside the root: no path at all
    ]


def test_without_image_root_no_path_is_shown(network_file, gallery):
    from fastapi.testclient import TestClient

    from embedding_net.app import create_app

    index_file, _, files = gallery
    client = TestClient(create_app(network_file, index_file, map_max_iter=250))
    item = client.get("/api/items/3").json()
    assert item["path"] is None and item["label"] == files[3].parent.name
    assert client.get("/api/items/3/thumbnail").status_code == 200  # still read from the index
    assert client.get("/api/info").json()["has_image_root"] is False


def test_server_fault_is_a_generic_500_and_logged(served, tricky, monkeypatch, caplog):
    client, service = served
    _, root, _ = tricky

    def broken_search(*args, **kwargs):
        raise RuntimeError(f"index exploded reading {root}/cats/good.png")

    monkeypatch.setattr(service.index, "search", broken_search)
    with caplog.at_level(logging.ERROR, logger="embedding_net.app.server"):
        response = client.post(
            "/api/search", files={"image": ("q.png", png_bytes(np.zeros((32, 32, 3), np.uint8)))}
        )
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert any("index exploded" in r.getMessage() or r.exc_info for r in caplog.records)
    logged = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "Traceback" in logged and "index exploded" in logged


def test_public_detail_removes_absolute_paths():
    from embedding_net.app.server import public_detail

    assert public_detail("cannot open '/srv/data/x/y.png': gone") == "cannot open '<path>': gone"
    assert public_detail(r"bad C:\Users\me\a.png") == "bad <path>"
    assert public_detail("k: Input should be\n a valid integer") == (
        "k: Input should be a valid integer"
    )
    assert public_detail("1 / 2 of 20000 x 20000 pixels") == "1 / 2 of 20000 x 20000 pixels"
