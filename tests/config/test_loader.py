"""YAML -> TrainConfig: types, unknown keys, values, paths; every example config parses."""

from pathlib import Path

import pytest

from embedding_net.config import ConfigError, TrainConfig, config_to_dict, load_config, parse_config
from embedding_net.data.locations import data_root

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIGS = sorted((REPO / "examples").glob("*/*.yaml"))


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_full_config_is_typed(tmp_path):
    path = _write(
        tmp_path,
        """
name: x
seed: 3
output_dir: "${config_dir}/out"
data: {layout: cuhk03, root: "${data}/sample/reid_cuhk03", image_size: [64, 32], split: identity}
model: {backbone: simple_cnn, embedding_dim: 32, neck: bnneck}
loss: {name: batch-hard-triplet, params: {margin: 0.3}, identity_loss: cosface, identity_weight: 0.5}
sampler: {kind: pk, P: 4, K: 4, camera_aware: true}
augmentation: {preset: reid}
optimizer: {name: adamw, learning_rate: 3e-4, weight_decay: 5e-4, rectify: true}
schedule: {name: warmup_cosine, warmup_epochs: 2}
training: {epochs: 5, mixed_precision: mixed_bfloat16}
validation: {protocol: reid, monitor: val_mAP}
callbacks: {early_stopping_patience: 3}
""",
    )
    config = load_config(path)
    assert isinstance(config, TrainConfig)
    assert config.optimizer.learning_rate == pytest.approx(3e-4)  # "3e-4" (a YAML 1.1 string)
    assert config.optimizer.weight_decay == pytest.approx(5e-4)
    assert config.data.root == str(data_root() / "sample" / "reid_cuhk03")
    assert config.output_dir == str(tmp_path.resolve() / "out")
    assert config.data.image_size == [64, 32]
    assert config.loss.params == {"margin": 0.3}
    assert config.sampler.camera_aware is True
    assert config.source == str(path)
    # defaults of untouched keys
    assert config.callbacks.tensorboard is True and config.model.pooling == "avg"
    assert config_to_dict(config)["training"]["epochs"] == 5


@pytest.mark.parametrize(
    "text, key",
    [
        ("data: {root: x, imagesize: [3, 3]}", "data.imagesize"),
        ("data: {root: x}\nmodle: {}", "modle"),
        ("data: {root: x}\noptimizer: {lr: 0.1}", "optimizer.lr"),
    ],
)
def test_unknown_key_names_key_and_file(tmp_path, text, key):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and f"{key}: unknown key" in message
    assert "accepts" in message


@pytest.mark.parametrize(
    "text, key, expected",
    [
        (
            "data: {root: x}\noptimizer: {learning_rate: fast}",
            "optimizer.learning_rate",
            "a number",
        ),
        ("data: {root: x}\ntraining: {epochs: 2.5}", "training.epochs", "an integer"),
        ("data: {root: x}\ntraining: {epochs: true}", "training.epochs", "an integer"),
        ("data: {root: x}\nmodel: {normalize: 'yes'}", "model.normalize", "true/false"),
        ("data: {root: x, image_size: [32, big]}", "data.image_size[1]", "an integer"),
        ("data: {root: x, image_size: 32}", "data.image_size", "a list"),
        ("data: {root: x}\nmodel: {kind: gan}", "model.kind", "one of"),
        ("data: {root: x}\nmodel: {last_stride: 3}", "model.last_stride", "one of"),
        ("data: {root: x}\nmodel: {preprocessing: zscore}", "model.preprocessing", "one of"),
        ("data: {root: x}\nmodel: {width: half}", "model.width", "a number"),
        ("data: {root: x}\nmodel: {pooling_grid: 2}", "model.pooling_grid", "a list"),
        ("data: {root: x}\nmodel: {center_crop: 48}", "model.center_crop", "a list"),
        ("data: {root: x}\nmodel: {pooling_grid: [2, a]}", "model.pooling_grid[1]", "an integer"),
        ("data: {root: x}\nloss: {params: [1, 2]}", "loss.params", "a mapping"),
        ("data: [1, 2]", "data", "a mapping"),
    ],
)
def test_wrong_type_names_key_and_file(tmp_path, text, key, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: expected {expected}"), message


@pytest.mark.parametrize(
    "mapping, key",
    [
        ({}, "data.root"),
        ({"data": {"root": "x", "image_size": [0, 4]}}, "data.image_size"),
        ({"data": {"root": "x", "val_fraction": 1.0}}, "data.val_fraction"),
        ({"data": {"root": "x"}, "optimizer": {"learning_rate": -1.0}}, "optimizer.learning_rate"),
        (
            {"data": {"root": "x"}, "optimizer": {"name": "sgd", "rectify": True}},
            "optimizer.rectify",
        ),
        ({"data": {"root": "x"}, "model": {"kind": "siamese"}}, "sampler.kind"),
        ({"data": {"root": "x"}, "model": {"head": "merge"}}, "model.head"),
        ({"data": {"root": "x", "layout": "cuhk03", "split": "given"}}, "data.split"),
        (
            {"data": {"root": "x", "split": "none"}, "validation": {"protocol": "reid"}},
            "validation.protocol",
        ),
        ({"data": {"root": "x"}, "sampler": {"P": 1}}, "sampler.P"),
        ({"data": {"root": "x"}, "sampler": {"singles": -1}}, "sampler.singles"),
        ({"data": {"root": "x"}, "sampler": {"kind": "random", "singles": 4}}, "sampler.singles"),
        ({"data": {"root": "x"}, "model": {"width": 0}}, "model.width"),
        ({"data": {"root": "x"}, "model": {"pooling_grid": [2]}}, "model.pooling_grid"),
        ({"data": {"root": "x", "min_images_per_identity": 0}}, "data.min_images_per_identity"),
        ({"data": {"root": "x"}, "model": {"pooling_grid": [0, 1]}}, "model.pooling_grid"),
        ({"data": {"root": "x"}, "model": {"width": -0.5}}, "model.width"),
        ({"data": {"root": "x"}, "model": {"center_crop": [48]}}, "model.center_crop"),
        ({"data": {"root": "x"}, "model": {"center_crop": [0, 32]}}, "model.center_crop"),
        (
            {"data": {"root": "x", "image_size": [64, 32]}, "model": {"center_crop": [48, 48]}},
            "model.center_crop",
        ),
        ({"data": {"root": "x"}, "model": {"width": float("nan")}}, "model.width"),
        ({"data": {"root": "x"}, "training": {"epochs": 0}}, "training.epochs"),
        (
            {"data": {"root": "x"}, "validation": {"protocol": "classification", "rerank": True}},
            "validation.rerank",
        ),
    ],
)
def test_bad_values_name_key_and_file(mapping, key):
    with pytest.raises(ConfigError) as info:
        parse_config(mapping, "cfg.yaml")
    assert str(info.value).startswith(f"cfg.yaml: {key}: "), str(info.value)


def test_yaml_errors_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "data: {root: [unclosed"))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="top level"):
        load_config(_write(tmp_path, "- a\n- b\n"))


def test_safe_load_only(tmp_path):
    # a python object tag is refused by yaml.safe_load
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "data: !!python/object/apply:os.system ['true']"))


def test_overrides_are_validated(tmp_path):
    path = _write(tmp_path, "data: {root: x}\ntraining:\n")
    config = load_config(path, overrides={"training.epochs": 7, "optimizer.name": "sgd"})
    assert config.training.epochs == 7 and config.optimizer.name == "sgd"
    with pytest.raises(ConfigError, match=r"training\.epochs: expected an integer"):
        load_config(path, overrides={"training.epochs": "many"})


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_config_is_valid(path):
    config = load_config(path)
    assert config.data.root and config.training.epochs >= 1
    if config.model.kind == "embedding" and config.model.weights is None:
        from embedding_net.training import build_network

        # the network builds at the config's image size (e.g. a pooling grid that fits)
        network = build_network(config)
        assert network.image_shape[:2] == tuple(config.data.image_size)


def test_examples_exist():
    assert {p.parent.name for p in EXAMPLE_CONFIGS} >= {"traffic_signs"}
