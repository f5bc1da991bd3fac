"""`embedding-net encode`: folder -> EmbeddingIndex file, checked against the network itself."""

import json

import keras
import numpy as np
import pytest

from embedding_net.cli import main
from embedding_net.data import list_class_folders, load_images
from embedding_net.evaluation import EmbeddingIndex
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return trained_run(tmp_path_factory)


def test_encode_folder_to_index(tiny, tmp_path, capsys):
    out, data = tiny
    index_path = tmp_path / "gallery.npz"
    model = str(out / "network.keras")
    assert main(["encode", str(data), "--model", model, "--output", str(index_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    records = list_class_folders(data)
    assert summary["images"] == len(records) == 66 and summary["labels"] == 6
    index = EmbeddingIndex.load(index_path)
    assert len(index) == 66 and set(index.labels.tolist()) == {f"c{i}" for i in range(6)}
    # embeddings are the network's own, row-aligned with the paths
    network = keras.saving.load_model(model)
    images = load_images([str(p) for p in index.paths[:5]], (16, 16)).images
    np.testing.assert_allclose(index.embeddings[:5], network.encode(images), atol=1e-5)
    # refuses to overwrite, then replaces with --overwrite
    assert main(["encode", str(data), "--model", model, "--output", str(index_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    args = ["encode", str(data), "--model", model, "--output", str(index_path), "--overwrite"]
    assert main([*args, "--distance", "cosine"]) == 0
    assert EmbeddingIndex.load(index_path).distance == "cosine"


def test_encode_bad_inputs(tiny, tmp_path, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    assert main(["encode", str(tmp_path / "none"), "--model", model, "--output", "x.npz"]) == 2
    assert (
        main(["encode", str(data), "--model", str(tmp_path / "m.keras"), "--output", "x.npz"]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
