"""The app on a similarity index: scores in its units, the threshold convention (same when
similarity >= threshold), and an old-format cosine index served as angular distances."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.app.conftest import IMAGE_SHAPE, build_index


def _embed(network, files):
    from embedding_net.data import load_images

    images = load_images([str(f) for f in files], image_size=IMAGE_SHAPE[:2]).images
    return network.encode(images).astype(np.float64)


@pytest.fixture(scope="module")
def cosine_service(network, gallery):
    from embedding_net.app import SearchService

    _, _, files = gallery
    index = build_index(network, files, [p.parent.name for p in files], distance="cosine")
    return SearchService(network, index, max_map_points=8, map_max_iter=250), files


def test_search_and_compare_report_similarities(cosine_service, network):
    service, files = cosine_service
    info = service.info()
    assert info["distance"] == "cosine" and info["higher_is_closer"] is True
    t = service.threshold
    assert t is not None and -1.0 <= t <= 1.0  # estimated in similarity units
    emb = _embed(network, files)
    results = service.search_embedding(emb[0], k=5)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert [r["match"] for r in results] == [s >= t for s in scores]
    assert [r["distance"] for r in results] == [-s for s in scores]
    body = service.compare(files[0].read_bytes(), files[20].read_bytes())
    cosine = emb[0] @ emb[20] / np.linalg.norm(emb[0]) / np.linalg.norm(emb[20])
    assert body["score"] == pytest.approx(cosine, abs=1e-5)
    assert body["cosine_similarity"] == pytest.approx(cosine, abs=1e-5)
    assert body["same"] == (body["score"] >= t)
    same = service.compare(files[0].read_bytes(), files[0].read_bytes())
    assert same["score"] == pytest.approx(1.0, abs=1e-5) and same["same"] is True


def test_format_1_cosine_index_keeps_distance_thresholds(network, gallery, tmp_path):
    from embedding_net.app import SearchService

    _, _, files = gallery
    index = build_index(network, files, [p.parent.name for p in files], distance="angular")
    path = tmp_path / "new.npz"
    index.save(path)
    with np.load(path) as f:
        header = json.loads(str(f["header"]))
        arrays = {k: f[k] for k in f.files if k != "header"}
    header.update(version=1, distance="cosine")  # what `encode --distance cosine` wrote before
    old = tmp_path / "old.npz"
    np.savez(old, header=np.asarray(json.dumps(header)), **arrays)
    service = SearchService.from_files(_saved_network(network, tmp_path), old, threshold=0.2)
    assert service.distance == "angular" and service.higher_is_closer is False
    results = service.search_embedding(_embed(network, files[:1])[0], k=4)
    assert [r["match"] for r in results] == [r["score"] <= 0.2 for r in results]
    assert results[0]["score"] == pytest.approx(0.0, abs=1e-5)


def _saved_network(network, tmp_path):
    path = tmp_path / "net.keras"
    network.save(path)
    return path
