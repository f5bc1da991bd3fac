"""The app's JSON endpoints through FastAPI's TestClient: search order vs EmbeddingIndex.search
and brute force, compare vs numpy, thumbnails by id only, and every bad-input case."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import EMBEDDING_DIM, IMAGE_SHAPE, png_bytes

MAX_UPLOAD = 200_000
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="module")
def app(network_file, gallery):
    from embedding_net.app import create_app

    index_file, _, _ = gallery
    return create_app(
        network_file,
        index_file,
        max_upload_bytes=MAX_UPLOAD,
        max_pixels=MAX_PIXELS,
        max_map_points=12,
        map_max_iter=250,
        thumbnail_size=48,
        image_root=index_file.parent,  # the gallery's class folders lie next to the index
    )


def _relative(path, gallery):
    """What the server shows for an indexed file: its path relative to the image root."""
    from pathlib import Path

    return Path(path).relative_to(gallery[0].parent).as_posix()


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


def _embed(network, files):
    """Independent reference: the library's file loader, then the network."""
    from embedding_net.data import load_images

    images = load_images([str(f) for f in files], image_size=IMAGE_SHAPE[:2]).images
    return network.encode(images)


def _search(client, data, name="query.png", k=None):
    params = {} if k is None else {"k": k}
    return client.post("/api/search", params=params, files={"image": (name, data, "image/png")})


def test_info_reports_index_model_and_limits(client, gallery):
    _, index, _ = gallery
    info = client.get("/api/info").json()
    assert info["index_size"] == len(index) == 24
    assert info["embedding_dim"] == EMBEDDING_DIM
    assert info["image_shape"] == list(IMAGE_SHAPE)
    assert info["distance"] == "euclidean"
    assert info["max_upload_bytes"] == MAX_UPLOAD and info["max_pixels"] == MAX_PIXELS
    assert info["threshold_source"] == "estimated from the index labels"
    assert np.isfinite(info["threshold"])


def test_page_is_served_with_its_controls(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element_id in ("query-file", "results", "compare-a-file", "compare-b-file", "map-frame"):
        assert f'id="{element_id}"' in page.text
    assert "innerHTML" not in page.text  # labels and paths are inserted as text only


@pytest.mark.parametrize("position", [0, 5, 13, 22])  # PNG and JPEG files of every class
def test_search_order_equals_embedding_index_search(client, network, gallery, position):
    _, index, files = gallery
    query = files[position]
    response = _search(client, query.read_bytes(), name=query.name, k=7)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["k"] == 7 and body["distance"] == "euclidean"
    results = body["results"]
    embedding = _embed(network, [query])
    expected = index.search(embedding, k=7)
    assert [r["id"] for r in results] == expected.indices[0].tolist()
    np.testing.assert_allclose([r["distance"] for r in results], expected.distances[0], atol=1e-5)
    assert [r["rank"] for r in results] == list(range(1, 8))
    assert [r["label"] for r in results] == expected.labels[0].tolist()
    assert [r["path"] for r in results] == [_relative(p, gallery) for p in expected.paths[0]]
    # brute force: the returned items are the 7 nearest, in order, with their true distances
    brute = np.linalg.norm(index.embeddings.astype(np.float64) - embedding[0], axis=1)
    ids = [r["id"] for r in results]
    np.testing.assert_allclose([r["distance"] for r in results], brute[ids], atol=1e-3)
    assert np.all(np.diff(brute[ids]) >= -1e-6)
    assert brute[ids].max() <= np.sort(brute)[7] + 1e-6
    # the query is an indexed file: it is its own nearest neighbour
    assert results[0]["id"] == position
    threshold = body["threshold"]
    assert [r["match"] for r in results] == [r["distance"] <= threshold for r in results]


def test_search_default_k_and_thumbnail_urls(client):
    body = _search(client, png_bytes(np.full((40, 30, 3), 90, np.uint8))).json()
    assert len(body["results"]) == 5
    assert all(r["thumbnail_url"] == f"/api/items/{r['id']}/thumbnail" for r in body["results"])


def test_upload_is_decoded_like_load_images(app, tmp_path):
    """Every kind of upload becomes exactly the array the index's file loader makes."""
    from embedding_net.data import load_images

    service = app.state.service
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (45, 37, 3), dtype=np.uint8)
    cases = {
        "rgb.png": Image.fromarray(rgb),
        "rgb.jpg": Image.fromarray(rgb),
        "grey.png": Image.fromarray(rgb[..., 0]),
        "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
        "deep.png": Image.fromarray(rng.integers(0, 65536, (20, 30), dtype=np.uint16)),
        "photo.tiff": Image.fromarray(rgb),
    }
    for name, picture in cases.items():
        path = tmp_path / name
        picture.save(path)
        decoded = service.decode_upload(path.read_bytes())
        expected = load_images([str(path)], image_size=IMAGE_SHAPE[:2]).images[0]
        assert decoded.dtype == np.uint8 and decoded.shape == IMAGE_SHAPE, name
        np.testing.assert_array_equal(decoded, expected, err_msg=name)


def test_compare_matches_numpy_distance(client, network, gallery):
    _, _, files = gallery
    a, b = files[0], files[20]  # red PNG, grey PNG
    response = client.post(
        "/api/compare",
        files={"image_a": ("a.png", a.read_bytes()), "image_b": ("b.png", b.read_bytes())},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    emb = _embed(network, [a, b]).astype(np.float64)
    assert body["distance_metric"] == "euclidean"
    assert body["distance"] == pytest.approx(np.linalg.norm(emb[0] - emb[1]), abs=1e-5)
    cosine = emb[0] @ emb[1] / np.linalg.norm(emb[0]) / np.linalg.norm(emb[1])
    assert body["cosine_similarity"] == pytest.approx(cosine, abs=1e-5)
    assert body["same"] == (body["distance"] <= body["threshold"])


def test_compare_an_image_with_itself_is_same(client, gallery):
    data = gallery[2][3].read_bytes()
    body = client.post(
        "/api/compare", files={"image_a": ("a.jpg", data), "image_b": ("b.jpg", data)}
    ).json()
    assert body["distance"] == pytest.approx(0.0, abs=1e-5)
    assert body["cosine_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert body["same"] is True


def test_thumbnail_is_the_indexed_image(client, gallery):
    _, _, files = gallery
    response = client.get("/api/items/3/thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as thumb:
        thumb_array = np.asarray(thumb.convert("RGB"), np.float64)
    with Image.open(files[3]) as original:
        reference = np.asarray(original.convert("RGB").resize(thumb.size), np.float64)
    assert max(thumb.size) == 48
    assert np.abs(thumb_array.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).max() < 12
    item = client.get("/api/items/3").json()
    assert item["path"] == f"{files[3].parent.name}/{files[3].name}"
    assert item["label"] == files[3].parent.name


def test_thumbnails_only_for_indexed_ids(client):
    urls = [
        "/api/items/24/thumbnail",  # one past the end
        "/api/items/-1/thumbnail",
        "/api/items/999999999999/thumbnail",
        "/api/items/..%2F..%2F..%2Fetc%2Fpasswd/thumbnail",
        "/api/items/%2Fetc%2Fpasswd/thumbnail",
        "/api/items/../../etc/passwd",
        "/api/items/1.5/thumbnail",
        "/api/items/24",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (404, 422), (url, response.status_code)
        assert b"root:" not in response.content
        assert response.headers["content-type"] == "application/json"


def test_empty_upload_is_422(client):
    response = _search(client, b"")
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


def test_non_image_upload_is_422(client):
    response = _search(client, b"%PDF-1.4 this is not a picture" * 10, name="doc.pdf")
    assert response.status_code == 422
    assert "not an image" in response.json()["detail"]


def test_truncated_image_is_422(client):
    data = png_bytes(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    response = _search(client, data[: len(data) // 2])
    assert response.status_code == 422
    assert "corrupt or truncated" in response.json()["detail"]


def test_upload_over_byte_limit_is_413(client):
    noise = np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    data = png_bytes(noise)  # incompressible: ~270 kB > 200 kB
    assert MAX_UPLOAD < len(data) < 2 * MAX_UPLOAD
    response = _search(client, data)
    assert response.status_code == 413
    assert f"{MAX_UPLOAD:,}" in response.json()["detail"]


def test_request_over_body_limit_is_413_before_reading(client):
    response = _search(client, b"\0" * (2 * MAX_UPLOAD + 100_000))
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


def test_too_many_pixels_is_422_without_decoding(client):
    data = png_bytes(np.zeros((1000, 1001, 3), np.uint8))  # tiny file, 1,001,000 pixels
    assert len(data) < MAX_UPLOAD
    response = _search(client, data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "1001 x 1000" in detail and f"{MAX_PIXELS:,}" in detail


def test_compare_names_the_bad_field(client, gallery):
    good = gallery[2][0].read_bytes()
    response = client.post(
        "/api/compare", files={"image_a": ("a.png", good), "image_b": ("b.txt", b"hello")}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("image_b:")


def test_bad_k_is_422(client):
    data = png_bytes(np.zeros((32, 32, 3), np.uint8))
    for k in (0, -2, 101, 25, "three"):  # 25 > the 24 indexed items
        response = _search(client, data, k=k)
        assert response.status_code == 422, k
        assert "k" in str(response.json()["detail"])


def test_missing_upload_field_is_422(client):
    response = client.post("/api/search", files={"wrong": ("a.png", b"123")})
    assert response.status_code == 422
    assert "image" in str(response.json()["detail"])


def test_map_points_and_page(client, gallery):
    points = client.get("/api/map").json()
    assert points["total"] == 24 and len(points["ids"]) == 12
    assert len(set(points["ids"])) == 12 and all(0 <= i < 24 for i in points["ids"])
    assert np.all(np.isfinite(points["x"])) and np.all(np.isfinite(points["y"]))
    files = [_relative(p, gallery) for p in gallery[2]]
    assert points["paths"] == [files[i] for i in points["ids"]]
    page = client.get("/map")
    assert page.status_code == 200
    assert 'src="/static/plotly.min.js"' in page.text
    text = page.text.replace("\\u002f", "/")  # plotly escapes "/" in its JSON
    for item_id in points["ids"]:
        assert f'[{item_id},"/api/items/{item_id}/thumbnail"' in text
    assert "plotly_hover" in page.text
    script = client.get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000


def test_non_finite_embedding_is_a_clear_500(app, client, monkeypatch):
    service = app.state.service
    nan_model = type(
        "NaNModel", (), {"predict_on_batch": lambda self, x: np.full((len(x), 8), np.nan)}
    )
    monkeypatch.setattr(service, "model", nan_model())
    response = _search(client, png_bytes(np.zeros((32, 32, 3), np.uint8)))
    assert response.status_code == 500
    assert "NaN or infinite embedding" in response.json()["detail"]
