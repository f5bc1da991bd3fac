"""train(): a tiny real fit, the files it writes, resume, and what it refuses to overwrite."""

import json
import typing

import keras
import numpy as np
import pytest

from embedding_net.config import ConfigError, parse_config
from embedding_net.config.schema import ModelConfig
from embedding_net.training import train
from tests.config.tiny_run import (
    class_image,
    tiny_config_dict,
    trained_run,
    write_class_folders,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return trained_run(tmp_path_factory)


def test_tiny_run_writes_models_logs_and_learns(tiny):
    out, data = tiny
    for name in ("config.yaml", "label_map.json", "best.keras", "final.keras", "network.keras"):
        assert (out / name).is_file(), name
    assert (out / "backup").is_dir()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["monitor"] == "val_knn_top1" and summary["epochs_run"] == 3
    import csv

    with open(out / "history.csv") as f:
        scores = [float(row["val_knn_top1"]) for row in csv.DictReader(f)]
    assert summary["best_epoch"] == int(np.argmax(scores)) + 1
    # 6 colour classes: far above chance (1/6) after 12 steps
    assert summary["metrics"]["knn_top1"] >= 0.6, summary
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == 4
    # network.keras is the uncompiled embedding network of best.keras: same embeddings
    import embedding_net.optimizers  # noqa: F401  (best.keras is compiled with it)

    network = keras.saving.load_model(out / "network.keras")
    best = keras.saving.load_model(out / "best.keras")
    images = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3)).astype(np.uint8)
    np.testing.assert_allclose(network.encode(images), best.encode(images), atol=1e-5)
    assert not network.compiled


def test_resume_continues_from_the_backup(tmp_path):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(
        data,
        tmp_path / "run",
        training={"epochs": 2, "verbose": 0},
        validation={"protocol": "none"},
    )
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    first = train(parse_config(mapping))
    assert first.epochs_run == 2 and first.metrics == {}
    mapping["training"]["epochs"] = 3
    resumed = train(parse_config(mapping), resume=True)
    assert resumed.epochs_run == 1  # epochs 1-2 restored from backup/, only epoch 3 runs
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4
    # a non-empty output folder is refused without resume/overwrite
    with pytest.raises(FileExistsError, match="--overwrite"):
        train(parse_config(mapping))
    # overwrite replaces the run's own files but never a file it did not write
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        train(parse_config(mapping), overwrite=True)
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(parse_config(mapping), output_dir=tmp_path / "fresh", resume=True)


def test_config_errors_found_with_the_data(tmp_path):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 2), ("val", 1)))
    mapping = tiny_config_dict(data, tmp_path / "run")
    mapping["sampler"]["P"] = 5
    with pytest.raises(ConfigError, match="sampler.P: 5 identities"):
        train(parse_config(mapping, "x.yaml"))
    mapping = tiny_config_dict(data, tmp_path / "run2", loss={"name": "no-such"})
    with pytest.raises(ConfigError, match=r"x.yaml: loss.name"):
        train(parse_config(mapping, "x.yaml"))


def test_sampler_singles_trains_with_one_image_identities_as_extra_negatives(tmp_path):
    from PIL import Image

    data = write_class_folders(tmp_path / "data", n_classes=4, per_split=(("train", 4), ("val", 2)))
    rng = np.random.default_rng(1)
    for label in range(4, 9):  # five identities with a single training image
        for split in ("train", "val"):
            (data / split / f"c{label}").mkdir(parents=True)
            Image.fromarray(class_image(label, rng)).save(data / split / f"c{label}" / "0.png")
    mapping = tiny_config_dict(data, tmp_path / "run")
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "singles": 3}
    result = train(parse_config(mapping, "x.yaml"))
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["steps_per_epoch"] == 21 // 9  # 21 training images, 3 x 2 + 3 per batch
    assert result.epochs_run == 3 and np.all(np.isfinite(result.history["loss"]))
    mapping = tiny_config_dict(data, tmp_path / "run2")
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "singles": 6}
    with pytest.raises(ConfigError, match=r"x.yaml: sampler.singles: .* holds 4 and 5$"):
        train(parse_config(mapping, "x.yaml"))
    mapping = tiny_config_dict(data, tmp_path / "run3")
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "singles": 2}
    mapping["data"]["min_images_per_identity"] = 2
    with pytest.raises(ConfigError, match=r"holds 4 and 0 \(data.min_images_per_identity leaves"):
        train(parse_config(mapping, "x.yaml"))


def test_tfrecord_layout_trains_with_given_splits(tmp_path):
    from embedding_net.data import list_class_folders, write_tfrecords

    data = write_class_folders(tmp_path / "data", n_classes=4, per_split=(("train", 4), ("val", 2)))
    write_tfrecords(
        list_class_folders(data),
        tmp_path / "records",
        num_shards=2,
        split_by="given",
        progress=False,
    )
    mapping = tiny_config_dict(
        tmp_path / "records",
        tmp_path / "run",
        data={"layout": "tfrecord", "split": "given"},
        training={"epochs": 1, "verbose": 0},
    )
    mapping["sampler"] = {"kind": "pk", "P": 4, "K": 2, "steps_per_epoch": 2}
    result = train(parse_config(mapping))
    # classes are shared between the splits: kNN of the 8 val images against the 16 train ones
    assert result.metrics["num_queries"] == 8.0
    assert 0.0 <= result.metrics["knn_top1"] <= 1.0


def test_mixed_precision_run_restores_the_global_policy(tmp_path):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(
        data,
        tmp_path / "run",
        training={"epochs": 1, "verbose": 0, "mixed_precision": "mixed_bfloat16"},
        validation={"protocol": "none"},
        callbacks={"checkpoint_every_epoch": False, "csv_log": False},
    )
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 1}
    before = keras.config.dtype_policy().name
    result = train(parse_config(mapping))
    assert keras.config.dtype_policy().name == before == "float32"
    assert result.epochs_run == 1
    # the saved network (float32 variables under mixed precision) loads and embeds in float32
    network = keras.saving.load_model(result.network)
    embeddings = network.encode(np.zeros((2, 16, 16, 3), np.uint8))
    assert embeddings.dtype == np.float32 and np.isfinite(embeddings).all()
    assert not (tmp_path / "run" / "backup").exists()


def test_time_budget_stops_and_the_stopping_epoch_is_evaluated(tmp_path):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(
        data,
        tmp_path / "run",
        training={"epochs": 5, "verbose": 0, "max_seconds": 0.0},
        validation={"protocol": "classification", "every": 4},
    )
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 1}
    result = train(parse_config(mapping))
    assert result.epochs_run == 1  # budget of 0 s: stop after the first epoch
    assert len(result.history["val_knn_top1"]) == 1  # evaluated although 1 % every != 0
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["best_epoch"] == 1


def test_model_last_stride_reaches_the_backbone():
    from embedding_net.training import build_network

    def feature_map(last_stride):
        config = parse_config(
            {
                "data": {"root": "x", "image_size": [64, 32]},
                "model": {"backbone": "resnet18", "last_stride": last_stride},
            },
            "x.yaml",
        )
        return tuple(build_network(config).backbone.output.shape[1:3])

    assert feature_map(2) == (2, 1)
    assert feature_map(1) == (4, 2)  # the last stage keeps its input resolution
    config = parse_config({"data": {"root": "x"}, "model": {"last_stride": 1}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: model: last_stride=1 is supported for"):
        build_network(config)


def test_model_width_reaches_the_backbone():
    from embedding_net.training import build_network

    def channels(**model):
        config = parse_config(
            {
                "data": {"root": "x", "image_size": [64, 32]},
                "model": {"backbone": "resnet18", **model},
            },
            "x.yaml",
        )
        network = build_network(config)
        return network.backbone.output.shape[-1], network.width

    assert channels() == (512, 1.0)
    assert channels(width=0.5) == (256, 0.5)
    assert channels(width=1) == (512, 1.0)  # an integer in YAML is a number too
    config = parse_config(
        {"data": {"root": "x"}, "model": {"backbone": "mobilenet_v3_small", "width": 0.5}},
        "x.yaml",
    )
    with pytest.raises(ConfigError, match=r"x.yaml: model: width=0.5: the width multiplier"):
        build_network(config)


def test_model_center_crop_reaches_the_network():
    from embedding_net.training import build_network

    config = parse_config(
        {"data": {"root": "x", "image_size": [40, 36]}, "model": {"center_crop": [32, 24]}},
        "x.yaml",
    )
    network = build_network(config)
    assert network.input_shape == (None, 40, 36, 3)
    assert network.backbone.input_shape == (None, 32, 24, 3)
    assert network.center_crop == (32, 24)
    config = parse_config({"data": {"root": "x", "image_size": [40, 36]}}, "x.yaml")
    assert build_network(config).backbone.input_shape == (None, 40, 36, 3)


def test_model_preprocessing_reaches_the_network():
    from embedding_net.layers.preprocessing import PREPROCESSING_MODES
    from embedding_net.training import build_network

    def network(**model):
        config = parse_config({"data": {"root": "x", "image_size": [16, 16]}, "model": model})
        return build_network(config)

    assert network().get_layer("preprocessing").mode == "scale"  # simple_cnn's own
    assert network(preprocessing="standardize").get_layer("preprocessing").mode == "standardize"
    # the config accepts exactly the layer's modes
    hint = typing.get_type_hints(ModelConfig)["preprocessing"]
    literal = next(a for a in typing.get_args(hint) if a is not type(None))
    assert set(typing.get_args(literal)) == set(PREPROCESSING_MODES)
    assert ModelConfig().preprocessing is None


def test_history_csv_has_validation_columns_that_first_appear_after_epoch_one(tmp_path):
    """Validation every 2 epochs: epoch 1 has no val_* keys, history.csv still gets their
    columns (empty cells where an epoch was not evaluated), and a resumed run keeps the rows."""
    import csv

    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(
        data,
        tmp_path / "run",
        training={"epochs": 3, "verbose": 0},
        validation={"protocol": "classification", "every": 2},
    )
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    result = train(parse_config(mapping))

    def rows():
        with open(tmp_path / "run" / "history.csv", newline="") as f:
            return list(csv.DictReader(f))

    history = rows()
    assert [r["epoch"] for r in history] == ["0", "1", "2"]
    # evaluated after epoch 2 and after the last one (3), not after epoch 1
    assert [r["val_knn_top1"] != "" for r in history] == [False, True, True]
    assert [float(r["val_knn_top1"]) for r in history[1:]] == pytest.approx(
        result.history["val_knn_top1"]
    )
    assert all(r["loss"] != "" and r["learning_rate"] != "" for r in history)

    mapping["training"]["epochs"] = 4
    train(parse_config(mapping), resume=True)
    resumed = rows()
    assert [r["epoch"] for r in resumed] == ["0", "1", "2", "3"]
    assert resumed[:3] == history
    assert resumed[3]["val_knn_top1"] != ""  # the last epoch is evaluated


def test_time_span_schedule_ends_at_the_floor_and_cannot_resume(tmp_path):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(
        data,
        tmp_path / "run",
        training={"epochs": 10_000, "verbose": 0, "max_seconds": 12.0},
        schedule={"name": "warmup_cosine", "span": "time", "warmup_epochs": 1,
                  "min_learning_rate": 1.0e-4},
        validation={"protocol": "classification", "every": 10_000},
    )  # fmt: skip
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    result = train(parse_config(mapping))
    assert 1 < result.epochs_run < 10_000  # the budget, not the epochs, ended training
    rates = result.history["learning_rate"]
    assert rates[0] == pytest.approx(0.01 * (0.1 + 0.9 * 1 / 2), rel=1e-5)  # warmup (2 steps)
    assert max(rates) <= 0.01 + 1e-9 and rates[-1] < 0.1 * 0.01  # decayed to near the floor
    assert np.all(np.diff(rates[1:]) <= 1e-9)  # monotone decay after the warmup
    assert len(result.history["val_knn_top1"]) == 1  # the stopping epoch was evaluated
    mapping["training"]["epochs"] = 20_000
    with pytest.raises(ConfigError, match="schedule.span: 'time' cannot resume"):
        train(parse_config(mapping), resume=True)


@pytest.mark.parametrize(
    ("schedule", "training", "message"),
    [
        ({"name": "constant", "span": "time"}, {"max_seconds": 60}, "applies to the cosine"),
        ({"name": "cosine", "span": "time"}, {"max_seconds": None}, "set it"),
        ({"name": "cosine", "span": "minutes"}, {"max_seconds": 60}, "schedule.span"),
        ({"name": "cosine"}, {"max_seconds": -1}, "training.max_seconds: must be >= 0"),
    ],
)
def test_time_span_config_errors_name_the_key(tmp_path, schedule, training, message):
    mapping = tiny_config_dict(tmp_path, tmp_path / "run", schedule=schedule, training=training)
    with pytest.raises(ConfigError, match=message):
        parse_config(mapping, source="run.yaml")


def test_model_pooling_grid_reaches_the_network():
    from embedding_net.layers import GridPooling
    from embedding_net.training import build_network

    def build(**model):
        config = parse_config(
            {"data": {"root": "x", "image_size": [96, 48]}, "model": {"pooling": "gem", **model}},
            "x.yaml",
        )
        return build_network(config)

    network = build(pooling_grid=[3, 1])
    assert isinstance(network.get_layer("pooling"), GridPooling)
    assert network.pooling_grid == (3, 1)
    assert network.get_layer("pooling").output.shape[-1] == 3 * 256  # simple_cnn: 6 x 3 x 256
    assert build().pooling_grid == (1, 1)
    with pytest.raises(ConfigError, match=r"x.yaml: model: pooling_grid=\(7, 1\) is finer"):
        build(pooling_grid=[7, 1])


def test_resume_keeps_a_better_earlier_best_model(tmp_path):
    from embedding_net.training.run_callbacks import previous_best
    from embedding_net.training.run_directory import RunDirectory

    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(data, tmp_path / "run", training={"epochs": 1, "verbose": 0})
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    train(parse_config(mapping))
    run = RunDirectory(tmp_path / "run")
    # pretend the earlier epoch scored better than any epoch can: the resumed epoch must not
    # replace its best.keras
    lines = run.history_csv.read_text().splitlines()
    column = lines[0].split(",").index("val_knn_top1")
    cells = lines[1].split(",")
    cells[column] = "1.5"
    run.history_csv.write_text("\n".join([lines[0], ",".join(cells)]) + "\n")
    assert previous_best(run, "val_knn_top1", "max") == 1.5
    assert previous_best(run, "val_knn_top1", "min") == 1.5
    assert previous_best(run, "val_missing", "max") is None
    before = run.best_model.read_bytes()
    mapping["training"]["epochs"] = 2
    train(parse_config(mapping), resume=True)
    assert run.best_model.read_bytes() == before
    assert previous_best(RunDirectory(tmp_path / "nothing"), "val_knn_top1", "max") is None


def test_a_run_writes_its_network_as_a_preset(tmp_path):
    from embedding_net import BaseNetwork

    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(data, tmp_path / "run", training={"epochs": 1, "verbose": 0})
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    result = train(parse_config(mapping))
    preset = BaseNetwork.from_preset(tmp_path / "run" / "preset")
    meta = preset.preset_metadata
    assert meta["metrics"] == pytest.approx(result.metrics)
    assert meta["training_config"]["data"]["root"] == str(data)
    network = keras.saving.load_model(tmp_path / "run" / "network.keras")
    images = np.random.default_rng(1).integers(0, 255, (4, 16, 16, 3)).astype(np.uint8)
    np.testing.assert_allclose(preset.encode(images), network.encode(images), atol=1e-6)
