"""Start-up checks of the app and of `embedding-net serve`: files, safe mode, embedding sizes,
threshold estimate, CLI arguments."""

from __future__ import annotations

import io

import numpy as np
import pytest

from embedding_net.cli import build_parser, main
from tests.app.conftest import EMBEDDING_DIM


def _index_file(tmp_path, dim, n=6, labels=True):
    from embedding_net.evaluation.index import EmbeddingIndex

    index = EmbeddingIndex()
    rng = np.random.default_rng(0)
    index.add(
        rng.normal(size=(n, dim)).astype(np.float32),
        labels=np.arange(n) % 2 if labels else None,
    )
    path = tmp_path / f"index{dim}.npz"
    index.save(path)
    return path


def test_embedding_size_mismatch_refuses_to_start(network_file, tmp_path):
    from embedding_net.app import create_app

    index_file = _index_file(tmp_path, dim=EMBEDDING_DIM + 4)
    with pytest.raises(ValueError, match=r"holds 12-d embeddings but model .* outputs 8-d"):
        create_app(network_file, index_file)


def test_serve_cli_exits_2_with_the_mismatch_message(network_file, tmp_path, capsys):
    index_file = _index_file(tmp_path, dim=EMBEDDING_DIM + 4)
    code = main(["serve", "--model", str(network_file), "--index", str(index_file)])
    assert code == 2
    err = capsys.readouterr().err
    assert "12-d" in err and "8-d" in err and str(index_file) in err


def test_missing_files_are_named(network_file, tmp_path, capsys):
    from embedding_net.app import create_app

    missing = tmp_path / "nothing.npz"
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        create_app(network_file, missing)
    index_file = _index_file(tmp_path, dim=EMBEDDING_DIM)
    with pytest.raises(FileNotFoundError, match="absent.keras"):
        create_app(tmp_path / "absent.keras", index_file)
    assert (
        main(["serve", "--model", str(tmp_path / "absent.keras"), "--index", str(index_file)]) == 2
    )
    assert "absent.keras" in capsys.readouterr().err


def test_not_an_index_file_is_refused(network_file, tmp_path):
    from embedding_net.app import create_app

    fake = tmp_path / "fake.npz"
    np.savez(fake, embeddings=np.zeros((3, EMBEDDING_DIM), np.float32))
    with pytest.raises(ValueError, match="not an EmbeddingIndex file"):
        create_app(network_file, fake)


def test_model_is_loaded_in_safe_mode(tmp_path):
    """A .keras file holding a Python lambda is refused instead of running its code."""
    import keras

    from embedding_net.app.service import load_network

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match="safe mode"):
        load_network(path)
    with pytest.raises(ValueError, match=r"not a \.keras file"):
        (tmp_path / "net.h5").write_bytes(b"x")
        load_network(tmp_path / "net.h5")


def test_estimate_threshold_separates_two_clusters():
    from embedding_net.app import estimate_threshold

    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.05, (10, 4)) + [1, 0, 0, 0]
    b = rng.normal(0.0, 0.05, (10, 4)) + [0, 1, 0, 0]
    x = np.concatenate([a, b])
    labels = np.repeat([0, 1], 10)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    same = labels[:, None] == labels[None]
    off = ~np.eye(20, dtype=bool)
    t = estimate_threshold(x, labels, "euclidean")
    assert d[same & off].max() < t < d[~same].min()
    t_cos = estimate_threshold(x, labels, "angular")  # 1 - cos, a distance
    cos_d = 1 - (x @ x.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1))
    assert cos_d[same & off].max() < t_cos < cos_d[~same].min()
    # nothing to learn from: no labels, one class, all singletons
    assert estimate_threshold(x, None, "euclidean") is None
    assert estimate_threshold(x, np.zeros(20), "euclidean") is None
    assert estimate_threshold(x, np.arange(20), "euclidean") is None


def test_balanced_threshold_maximises_tpr_plus_tnr():
    from embedding_net.app.service import balanced_threshold

    rng = np.random.default_rng(1)
    same = np.round(rng.normal(0.5, 0.2, 30), 2)  # rounded: ties between and within classes
    diff = np.round(rng.normal(1.0, 0.3, 600), 2)  # 20 times more negatives
    d = np.concatenate([same, diff])
    y = np.arange(len(d)) < len(same)

    def youden(t):
        return np.mean(d[y] <= t) + np.mean(d[~y] > t)

    brute = max(youden(t) for t in np.unique(d))  # a cut at each distinct value is enough
    t = balanced_threshold(d, y)
    assert youden(t) == pytest.approx(brute)
    # plain accuracy would cut lower (negatives dominate): balanced keeps more true matches
    assert np.mean(d[y] <= t) > 0.8
    # hand case: same {1, 2}, different {3, 4} -> the cut is between 2 and 3
    assert balanced_threshold([1.0, 2.0, 3.0, 4.0], [True, True, False, False]) == 2.5


def test_index_without_labels_has_no_threshold_unless_given(network, tmp_path):
    from embedding_net.app import SearchService
    from embedding_net.evaluation.index import EmbeddingIndex

    index = EmbeddingIndex.load(_index_file(tmp_path, dim=EMBEDDING_DIM, labels=False))
    service = SearchService(network, index)
    assert service.threshold is None and service.info()["threshold_source"] == "none"
    assert SearchService(network, index, threshold=0.5).threshold == 0.5
    with pytest.raises(ValueError, match="threshold"):
        SearchService(network, index, threshold=float("nan"))
    with pytest.raises(ValueError, match="max_upload_bytes"):
        SearchService(network, index, max_upload_bytes=0)
    with pytest.raises(ValueError, match="empty"):
        SearchService(network, EmbeddingIndex())


def test_serve_arguments_default_to_loopback_and_are_checked(tmp_path, capsys):
    args = build_parser().parse_args(["serve", "--model", "m.keras", "--index", "i.npz"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.top_k == 5
    for bad in (["--port", "0"], ["--top-k", "0"], ["--max-upload-mb", "-1"]):
        code = main(["serve", "--model", "m.keras", "--index", "i.npz", *bad])
        assert code == 2, bad
        assert bad[0] in capsys.readouterr().err


def test_triplet_training_model_serves_its_embedding_network(network, tmp_path):
    """A saved TripletModel (what training writes) loads as its shared embedding network."""
    from embedding_net import BaseNetwork, TripletModel
    from embedding_net.app.service import load_network

    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    triplet = TripletModel(network)
    triplet.compile(optimizer="adam")
    triplet((images, images, images))  # build before saving
    path = tmp_path / "triplet.keras"
    triplet.save(path)
    loaded = load_network(path)
    assert isinstance(loaded, BaseNetwork) and loaded.embedding_dim == EMBEDDING_DIM
    np.testing.assert_allclose(
        np.asarray(loaded(images)), np.asarray(network(images)), rtol=1e-5, atol=1e-6
    )


def test_serve_command_builds_the_app_and_binds_loopback(network_file, gallery, monkeypatch):
    """`embedding-net serve` wiring: options reach the service, uvicorn gets 127.0.0.1."""
    import uvicorn
    from fastapi.testclient import TestClient

    calls = []
    monkeypatch.setattr(
        uvicorn.Server,
        "run",
        lambda self, **kw: calls.append((self.config.app, vars(self.config))),
    )
    index_file = gallery[0]
    argv = ["serve", "--model", str(network_file), "--index", str(index_file), "--port", "8123"]
    argv += ["--top-k", "3", "--threshold", "0.25", "--max-upload-mb", "0.5"]
    names = index_file.parent / "names.csv"
    names.write_text("label,name\ngrey,Grey squares\n")
    argv += ["--class-names", str(names)]
    assert main([*argv, "--no-map-precompute"]) == 0
    ((app, kwargs),) = calls
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8123
    info = TestClient(app).get("/api/info").json()
    assert info["top_k"] == 3 and info["threshold"] == 0.25
    assert info["threshold_source"] == "given"
    assert info["max_upload_bytes"] == 512 * 1024
    assert info["index"] == index_file.name  # no absolute path of the server
    grey = [i for i, p in enumerate(gallery[2]) if p.parent.name == "grey"][0]
    assert TestClient(app).get(f"/api/items/{grey}").json()["name"] == "Grey squares"


def test_relative_index_paths_resolve_against_image_root(network, tmp_path):
    from PIL import Image

    from embedding_net.app import ImageRejected, SearchService
    from embedding_net.evaluation.index import EmbeddingIndex

    root = tmp_path / "photos"
    (root / "cats").mkdir(parents=True)
    Image.fromarray(np.full((20, 10, 3), 200, np.uint8)).save(root / "cats" / "a.png")
    index = EmbeddingIndex()
    rng = np.random.default_rng(0)
    index.add(
        rng.normal(size=(2, EMBEDDING_DIM)).astype(np.float32),
        labels=["cats", "cats"],
        paths=["cats/a.png", "cats/missing.png"],
    )
    service = SearchService(network, index, image_root=root, thumbnail_size=40)
    png = service.thumbnail(0)
    with Image.open(io.BytesIO(png)) as thumb:
        assert thumb.size == (20, 40)  # upscaled to the longest side, aspect kept
    with pytest.raises(ImageRejected, match="not found: cats/missing.png") as info:
        service.thumbnail(1)
    assert info.value.status == 404
    without_root = SearchService(network, index, image_root=None)
    with pytest.raises(ImageRejected, match="not found"):
        without_root.thumbnail(0)


def test_model_and_index_load_once(network_file, gallery, monkeypatch):
    import keras
    from fastapi.testclient import TestClient

    from embedding_net.app import create_app
    from embedding_net.evaluation.index import EmbeddingIndex

    loads = {"model": 0, "index": 0}
    real_model_load, real_index_load = keras.saving.load_model, EmbeddingIndex.load.__func__

    def count_model(*args, **kwargs):
        loads["model"] += 1
        assert kwargs.get("safe_mode") is True
        return real_model_load(*args, **kwargs)

    def count_index(cls, *args, **kwargs):
        loads["index"] += 1
        return real_index_load(cls, *args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", count_model)
    monkeypatch.setattr(EmbeddingIndex, "load", classmethod(count_index))
    index_file, _, files = gallery
    client = TestClient(create_app(network_file, index_file))
    for path in files[:3]:
        response = client.post("/api/search", files={"image": (path.name, path.read_bytes())})
        assert response.status_code == 200
    client.post(
        "/api/compare",
        files={"image_a": ("a", files[0].read_bytes()), "image_b": ("b", files[1].read_bytes())},
    )
    assert loads == {"model": 1, "index": 1}


def test_class_names_are_shown_next_to_labels(network, gallery, tmp_path):
    from embedding_net.app import SearchService
    from embedding_net.app.page import map_page
    from embedding_net.app.service import _lookup_name, read_class_names

    csv_file = tmp_path / "names.csv"
    csv_file.write_text("label,name\nred,Red squares\nblue,Blue squares\n")
    names = read_class_names(csv_file)
    assert names == {"red": "Red squares", "blue": "Blue squares"}
    _, index, files = gallery
    service = SearchService(network, index, class_names=names, max_map_points=8, map_max_iter=250)
    expected = {"red": "Red squares", "blue": "Blue squares", "green": None, "grey": None}
    for item_id, path in enumerate(files):
        assert service.item(item_id)["name"] == expected[path.parent.name]
    results = service.search(files[0].read_bytes(), k=3)["results"]
    assert all(r["name"] == expected[r["label"]] for r in results)
    page = map_page(service.tsne_map(), has_thumbnails=True)
    shown = {expected[lab] for lab in service.tsne_map()["labels"]} - {None}
    assert all(name in page for name in shown)
    # class ids written as folder names ("07") match ids in the CSV ("7")
    assert _lookup_name({"7": "Speed limit"}, "07") == "Speed limit"
    assert _lookup_name({"7": "Speed limit"}, "cat") is None
    (tmp_path / "bad.csv").write_text("only_one_column\nx\n")
    with pytest.raises(ValueError, match="two columns"):
        read_class_names(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_class_names(tmp_path / "nope.csv")
