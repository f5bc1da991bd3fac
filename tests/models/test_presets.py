"""Presets of our own: BaseNetwork.save_to_preset / from_preset, loaders that take a preset."""

from __future__ import annotations

import json

import numpy as np
import pytest

import embedding_net as en
from embedding_net.app.loading import load_network
from embedding_net.config import TrainConfig
from embedding_net.models import BaseNetwork
from embedding_net.models.presets import resolve_preset
from tests.models.helpers import class_images


@pytest.fixture
def network():
    return BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3), neck="bnneck")


def test_round_trip_and_metadata(network, tmp_path):
    images, _ = class_images(num_classes=2, per_class=3)
    expected = network.encode(images)
    config = TrainConfig()
    metrics = {"rank1": np.float32(0.75), "mAP": 0.5, "per_class": np.array([1.0, 0.0])}
    path = network.save_to_preset(tmp_path / "p", training_config=config, metrics=metrics)
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "metadata.json",
        "network.keras",
    ]
    loaded = BaseNetwork.from_preset(path)
    np.testing.assert_allclose(loaded.encode(images), expected, atol=1e-6)
    meta = loaded.preset_metadata
    assert meta["format"] == "embedding_net.preset" and meta["format_version"] == 1
    assert meta["embedding_dim"] == 8 and meta["input_shape"] == [16, 16, 3]
    assert meta["preprocessing"] == {"mode": "scale"} and meta["backbone"] == "simple_cnn"
    assert meta["metrics"] == {"rank1": 0.75, "mAP": 0.5, "per_class": [1.0, 0.0]}
    assert meta["training_config"]["model"]["backbone"] == "simple_cnn"
    assert json.loads((path / "config.json").read_text())["embedding_dim"] == 8
    # the other loaders take the directory as well
    np.testing.assert_allclose(en.load_model(path).encode(images), expected, atol=1e-6)
    np.testing.assert_allclose(load_network(path).encode(images), expected, atol=1e-6)


def test_existing_directory_needs_overwrite(network, tmp_path):
    network.save_to_preset(tmp_path / "p")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        network.save_to_preset(tmp_path / "p")
    network.save_to_preset(tmp_path / "p", metrics={"a": 1}, overwrite=True)
    assert BaseNetwork.from_preset(tmp_path / "p").preset_metadata["metrics"] == {"a": 1}
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        network.save_to_preset(tmp_path / "file")


def test_metadata_must_be_json(network, tmp_path):
    with pytest.raises(ValueError, match="metrics cannot be written as JSON"):
        network.save_to_preset(tmp_path / "p", metrics={"model": object()})
    assert not (tmp_path / "p").exists()  # nothing written


def test_missing_or_foreign_presets_name_the_handle(network, tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="nope"):
        BaseNetwork.from_preset(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        BaseNetwork.from_preset(empty)
    foreign = tmp_path / "foreign"  # e.g. a keras-hub backbone preset
    foreign.mkdir()
    (foreign / "metadata.json").write_text(json.dumps({"keras_version": "3"}))
    with pytest.raises(ValueError, match="not an embedding_net preset"):
        BaseNetwork.from_preset(foreign)
    broken = tmp_path / "broken"
    network.save_to_preset(broken)
    (broken / "network.keras").unlink()
    with pytest.raises(FileNotFoundError, match=f"{broken.name!s}.*network.keras"):
        BaseNetwork.from_preset(broken)
    with pytest.raises(FileNotFoundError):
        en.load_model(empty)
    network.save_to_preset(tmp_path / "whole")
    with pytest.raises(ValueError, match="BaseNetwork.from_preset"):
        BaseNetwork(str(tmp_path / "whole"), input_shape=(16, 16, 3))


def test_remote_handle_download_failure_names_the_handle(monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def offline(repo_id, **kwargs):
        raise OSError(f"cannot reach the hub for {repo_id}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ValueError, match="'hf://someone/embedding'.*cannot download"):
        BaseNetwork.from_preset("hf://someone/embedding")


def test_remote_handle_downloads_then_loads(network, tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    network.save_to_preset(tmp_path / "cache")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo: str(tmp_path / "cache"))
    assert resolve_preset("hf://someone/embedding") == tmp_path / "cache"
    assert BaseNetwork.from_preset("hf://someone/embedding").embedding_dim == 8
