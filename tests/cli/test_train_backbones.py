"""`embedding-net train` with every named backbone: the saved network loads back and embeds
exactly as the trained one (the inference copy must not depend on Keras' layer auto-naming,
which numbers layers per process), and a failing final save still leaves the trained model."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from embedding_net.cli import main
from embedding_net.models.backbones import BACKBONES, available_backbones
from tests.config.tiny_run import tiny_config_dict, write_class_folders


@pytest.fixture(scope="module")
def data_by_size(tmp_path_factory):
    """Class-folder images for each input size the backbones need (built once per size)."""
    cache = {}

    def get(size: int):
        if size not in cache:
            root = tmp_path_factory.mktemp(f"data{size}")
            cache[size] = write_class_folders(
                root, n_classes=2, per_split=(("train", 2), ("val", 1)), size=size
            )
        return cache[size]

    return get


def _write_config(tmp_path, data, backbone: str, size: int, **sections) -> str:
    config = tiny_config_dict(
        data,
        tmp_path / "run",
        data={"image_size": [size, size]},
        model={"backbone": backbone, "embedding_dim": 8},
        sampler={"kind": "pk", "P": 2, "K": 2, "steps_per_epoch": 1},
        training={"epochs": 1, "verbose": 0},
        **sections,
    )
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", available_backbones())
def test_every_named_backbone_trains_saves_and_loads_back(backbone, tmp_path, data_by_size, capsys):
    import embedding_net as en

    size = max(32, BACKBONES[backbone].min_size)
    data = data_by_size(size)
    # no validation: this test is about saving and loading; the evaluation (and the best-model
    # save it triggers) would double its time for the largest backbones
    path = _write_config(tmp_path, data, backbone, size, validation={"protocol": "none"})
    assert main(["train", "--config", path]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 1
    run = tmp_path / "run"
    network = en.load_model(run / "network.keras")
    final = en.load_model(run / "final.keras")  # the trained model, as training left it
    trained = getattr(final, "network", final)
    images = np.stack(
        [
            np.asarray(__import__("PIL.Image").Image.open(p).convert("RGB"))
            for p in sorted((data / "val").rglob("*.png"))
        ]
    ).astype("float32")
    # a direct call: tracing a predict function for two images tests nothing more here
    np.testing.assert_array_equal(
        np.asarray(network(images, training=False)),
        np.asarray(trained(images, training=False)),
    )
    # the saved network is a fresh copy: its weights equal the trained ones, variable by variable
    assert len(network.weights) == len(trained.weights)
    for saved, source in zip(network.weights, trained.weights):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(source))


def _tiny_simple_cnn_config(tmp_path, data_by_size) -> str:
    return _write_config(tmp_path, data_by_size(16), "simple_cnn", 16)


def test_network_save_failure_keeps_the_trained_model(tmp_path, data_by_size, capsys, monkeypatch):
    import embedding_net as en
    from embedding_net.training import saving

    def broken(network, path):
        raise OSError("disk full")

    monkeypatch.setattr(saving, "save_network", broken)
    path = _tiny_simple_cnn_config(tmp_path, data_by_size)
    assert main(["train", "--config", path]) == 2
    err = capsys.readouterr().err
    run = tmp_path / "run"
    assert "network.keras could not be written" in err and "OSError: disk full" in err
    assert f"the trained model is kept in {run / 'final.keras'}" in err
    model = en.load_model(run / "final.keras")  # the trained model is complete and loads
    assert getattr(model, "network", model).embedding_dim == 8
    assert not (run / "network.keras").exists()


def test_final_save_failure_keeps_the_trained_weights(tmp_path, data_by_size, capsys, monkeypatch):
    import keras

    from embedding_net.config import load_config
    from embedding_net.training import build_model

    saved = {}
    real_save = keras.Model.save

    def broken_save(self, filepath, *args, **kwargs):
        name = Path(str(filepath)).name  # final.keras is written as .final.keras.tmp-*.keras
        if name == "final.keras" or name.startswith(".final.keras.tmp-"):
            saved["weights"] = [np.asarray(w) for w in self.weights]
            raise TypeError("cannot serialize")
        return real_save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", broken_save)
    path = _tiny_simple_cnn_config(tmp_path, data_by_size)
    assert main(["train", "--config", path]) == 2
    err = capsys.readouterr().err
    run = tmp_path / "run"
    assert "final.keras could not be written (TypeError: cannot serialize)" in err
    assert str(run / "final.weights.h5") in err
    # the weights file holds exactly the trained weights
    config = load_config(path)
    model, _ = build_model(config, num_classes=2)
    model.load_weights(run / "final.weights.h5")
    assert len(model.weights) == len(saved["weights"])
    for restored, trained in zip(model.weights, saved["weights"]):
        np.testing.assert_array_equal(np.asarray(restored), trained)
