"""Freeze-then-unfreeze fine-tuning in one train() run (model.freeze_epochs).

A backbone weights file saved locally is loaded through ``model.weights``; a recording
callback (swapped in for ``LearningRateLog``) snapshots every weight and the optimizer's
learning rate at the start of each ``fit`` and the end of each epoch, so the tests see the
frozen phase and the fine-tuning phase from the inside.
"""

import csv
import os

import keras
import numpy as np
import pytest

from embedding_net import training
from embedding_net.config import ConfigError, parse_config
from embedding_net.models.backbones import build_backbone
from embedding_net.training import run_callbacks, train
from tests.config.tiny_run import tiny_config_dict, write_class_folders

LR, FACTOR = 0.01, 0.1


class _Recorder(training.LearningRateLog):
    """``LearningRateLog`` that also snapshots weights and learning rate into ``log``."""

    log: list = []

    def _snapshot(self, when, epoch):
        weights = {v.path: keras.ops.convert_to_numpy(v).copy() for v in self.model.weights}
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.log.append({"when": when, "epoch": epoch, "weights": weights, "lr": rate})

    def on_train_begin(self, logs=None):
        self._snapshot("begin", None)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._snapshot("end", epoch)


@pytest.fixture
def recorder(monkeypatch):
    monkeypatch.setattr(run_callbacks, "LearningRateLog", _Recorder)
    _Recorder.log = []
    return _Recorder.log


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_class_folders(
        tmp_path_factory.mktemp("finetune") / "data",
        n_classes=3,
        per_split=(("train", 4), ("val", 2)),
    )


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A simple_cnn backbone saved to a local file, with weights no fresh init has: kernels
    scaled, BatchNorm moving statistics off 0/1 (mildly: the features must stay alive)."""
    backbone, _ = build_backbone("simple_cnn", (16, 16, 3))
    rng = np.random.default_rng(7)
    for variable in backbone.weights:
        value = keras.ops.convert_to_numpy(variable)
        if variable.path.endswith("moving_mean"):
            value = rng.normal(0.0, 0.05, value.shape)
        elif variable.path.endswith("moving_variance"):
            value = rng.uniform(0.8, 1.25, value.shape)
        elif variable.path.endswith("kernel"):
            value = 1.1 * value
        variable.assign(value.astype("float32"))
    path = tmp_path_factory.mktemp("weights") / "simple_cnn.weights.h5"
    backbone.save_weights(os.fspath(path))
    return path, {v.path: keras.ops.convert_to_numpy(v) for v in backbone.weights}


def _mapping(data, out, weights=None, epochs=4, freeze_epochs=2, **model):
    mapping = tiny_config_dict(
        data,
        out,
        model={"freeze_epochs": freeze_epochs, **model},
        optimizer={"name": "adam", "learning_rate": LR, "fine_tune_factor": FACTOR},
        training={"epochs": epochs, "verbose": 0},
        # a margin no batch of unit-norm embeddings satisfies early: every step has gradients
        loss={"name": "batch-hard-triplet", "params": {"margin": 1.5}},
    )
    if weights is not None:
        mapping["model"]["weights"] = os.fspath(weights)
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    return mapping


def _history(out):
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def _same(a, b, keys):
    return all(np.array_equal(a[k], b[k]) for k in keys)


def test_frozen_phase_then_fine_tuning_from_a_layer(tmp_path, data, weights_file, recorder):
    path, saved = weights_file
    mapping = _mapping(data, tmp_path / "run", weights=path, unfreeze_from="block3_conv")
    result = train(parse_config(mapping, "ft.yaml"))

    begins = [r for r in recorder if r["when"] == "begin"]
    ends = [r for r in recorder if r["when"] == "end"]
    assert len(begins) == 2 and [r["epoch"] for r in ends] == [0, 1, 2, 3]
    backbone = list(saved)
    stats = [k for k in backbone if "moving_" in k]
    bn_params = [k for k in backbone if k.endswith(("gamma", "beta"))]
    low = [k for k in backbone if k.startswith(("block1_conv", "block2_conv"))]
    high = ["block3_conv/kernel", "block4_conv/kernel"]
    # the local weights file was loaded ...
    for k in backbone:
        np.testing.assert_array_equal(begins[0]["weights"][k], saved[k], err_msg=k)
    # ... and stays untouched through the frozen phase, BatchNorm statistics included,
    # while the head learns
    for r in ends[:2]:
        assert _same(r["weights"], saved, backbone)
    assert not np.array_equal(
        ends[0]["weights"]["embedding/kernel"], begins[0]["weights"]["embedding/kernel"]
    )
    # fine-tuning: layers from block3_conv learn, the ones below and every BatchNorm do not
    for r in ends[2:]:
        assert _same(r["weights"], saved, low + stats + bn_params)
        for k in high:
            assert not np.array_equal(r["weights"][k], saved[k]), k
    assert not np.array_equal(
        ends[3]["weights"]["block4_conv/kernel"], ends[2]["weights"]["block4_conv/kernel"]
    )
    # learning rate: the peak, then peak x fine_tune_factor (constant schedule)
    np.testing.assert_allclose(
        [r["lr"] for r in ends], [LR, LR, LR * FACTOR, LR * FACTOR], rtol=1e-6
    )
    assert begins[1]["lr"] == pytest.approx(LR * FACTOR)

    # history.csv, the result and metrics.json cover both phases
    rows = _history(tmp_path / "run")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    np.testing.assert_allclose(
        [float(r["learning_rate"]) for r in rows], [LR, LR, LR * FACTOR, LR * FACTOR], rtol=1e-6
    )
    assert all(r["val_knn_top1"] != "" for r in rows)
    assert result.epochs_run == 4 and len(result.history["loss"]) == 4
    assert len(result.history["val_knn_top1"]) == 4
    scores = [float(r["val_knn_top1"]) for r in rows]
    best_epoch = int(np.argmax(scores)) + 1
    import json

    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["best_epoch"] == best_epoch and summary["freeze_epochs"] == 2
    # best.keras is the model of the best epoch, whichever phase it fell in
    import embedding_net.optimizers  # noqa: F401  (best.keras is compiled with it)

    best = keras.saving.load_model(tmp_path / "run" / "best.keras")
    best_weights = {v.path: keras.ops.convert_to_numpy(v) for v in best.weights}
    assert _same(best_weights, ends[best_epoch - 1]["weights"], list(saved) + ["embedding/kernel"])


def test_whole_backbone_unfrozen_and_loss_weights_kept(tmp_path, data, recorder):
    mapping = _mapping(
        data,
        tmp_path / "run",
        epochs=2,
        freeze_epochs=1,
    )
    mapping["loss"] = {"name": "arcface", "params": {"scale": 16.0, "margin": 0.2}}
    mapping["validation"] = {"protocol": "none"}
    train(parse_config(mapping))
    begin1, end1, begin2, end2 = recorder
    assert (begin1["when"], end1["when"], begin2["when"], end2["when"]) == (
        "begin",
        "end",
        "begin",
        "end",
    )
    kernels = [k for k in begin1["weights"] if k.startswith("block") and k.endswith("kernel")]
    stats = [k for k in begin1["weights"] if "moving_" in k]
    loss_weights = [k for k in begin1["weights"] if not k.startswith(("block", "embedding"))]
    assert loss_weights, list(begin1["weights"])  # the ArcFace class centres
    assert _same(end1["weights"], begin1["weights"], kernels + stats)
    # the re-compile keeps the trained ArcFace centres (no fresh loss) ...
    assert not _same(end1["weights"], begin1["weights"], loss_weights)
    assert _same(begin2["weights"], end1["weights"], loss_weights)
    # ... and every conv layer learns once unfrozen; BatchNorm stays in inference mode
    for k in kernels:
        assert not np.array_equal(end2["weights"][k], begin2["weights"][k]), k
    assert _same(end2["weights"], begin1["weights"], stats)
    assert end2["lr"] == pytest.approx(LR * FACTOR)


def test_resume_across_the_phase_boundary(tmp_path, data, recorder):
    out = tmp_path / "run"
    mapping = _mapping(data, out, epochs=3, freeze_epochs=2)
    mapping["validation"] = {"protocol": "none"}
    # a time budget stops the run after each epoch: epoch 1, then (resumed) epoch 2
    mapping["training"]["max_seconds"] = 1e-9
    first = train(parse_config(mapping))
    assert first.epochs_run == 1 and not (out / "backup" / "fine_tune").exists()
    second = train(parse_config(mapping), resume=True)
    assert second.epochs_run == 1 and not (out / "backup" / "fine_tune").exists()
    end_of_frozen = recorder[-1]
    assert end_of_frozen["epoch"] == 1 and end_of_frozen["lr"] == pytest.approx(LR)

    # resumed exactly at the boundary: the frozen phase's weights are restored, then fine-tuned
    del mapping["training"]["max_seconds"]
    recorder.clear()
    third = train(parse_config(mapping), resume=True)
    assert third.epochs_run == 1
    begin, end = recorder
    assert _same(begin["weights"], end_of_frozen["weights"], list(end_of_frozen["weights"]))
    assert end["epoch"] == 2 and end["lr"] == pytest.approx(LR * FACTOR)
    assert not np.array_equal(
        end["weights"]["block1_conv/kernel"], begin["weights"]["block1_conv/kernel"]
    )

    # resumed inside the fine-tuning phase: its own backup, only the new epoch runs
    mapping["training"]["epochs"] = 4
    recorder.clear()
    fourth = train(parse_config(mapping), resume=True)
    assert fourth.epochs_run == 1 and [r["epoch"] for r in recorder if r["when"] == "end"] == [3]
    rows = _history(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    np.testing.assert_allclose(
        [float(r["learning_rate"]) for r in rows], [LR, LR, LR * FACTOR, LR * FACTOR], rtol=1e-6
    )

    # another schedule cannot resume these backups
    mapping["model"]["freeze_epochs"] = 1
    with pytest.raises(
        ConfigError, match=r"x.yaml: model.freeze_epochs: resume with 1.*started with 2"
    ):
        train(parse_config(mapping, "x.yaml"), resume=True)


@pytest.mark.parametrize(
    ("model", "optimizer", "match"),
    [
        (
            {"freeze_epochs": 4},
            {},
            r"model.freeze_epochs: must be >= 1 and below training.epochs \(4",
        ),
        ({"freeze_epochs": 0}, {}, r"model.freeze_epochs: must be >= 1"),
        (
            {"freeze_epochs": 1, "freeze_backbone": True},
            {},
            r"model.freeze_epochs: model.freeze_backbone",
        ),
        (
            {"unfreeze_from": "block3_conv"},
            {},
            r"model.unfreeze_from: only applies with model.freeze_epochs",
        ),
        (
            {"freeze_epochs": 1, "unfreeze_from": -2},
            {},
            r"model.unfreeze_from: a layer index must be >= 0",
        ),
        (
            {"freeze_epochs": 1, "unfreeze_from": 1.5},
            {},
            r"model.unfreeze_from: expected an integer or a string",
        ),
        (
            {"freeze_epochs": 1},
            {"fine_tune_factor": 0},
            r"optimizer.fine_tune_factor: must be in \(0, 1\]",
        ),
        (
            {"freeze_epochs": 1},
            {"fine_tune_factor": 1.5},
            r"optimizer.fine_tune_factor: must be in \(0, 1\]",
        ),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, model, optimizer, match):
    mapping = tiny_config_dict(tmp_path, tmp_path / "run", training={"epochs": 4}, model=model)
    mapping["optimizer"].update(optimizer)
    with pytest.raises(ConfigError, match=f"ft.yaml: {match}"):
        parse_config(mapping, "ft.yaml")


def test_min_learning_rate_must_stay_below_the_fine_tuning_rate(tmp_path):
    mapping = tiny_config_dict(
        tmp_path,
        tmp_path / "run",
        model={"freeze_epochs": 1},
        optimizer={"learning_rate": 0.01, "fine_tune_factor": 0.1},
        schedule={"name": "cosine", "min_learning_rate": 0.005},
    )
    with pytest.raises(
        ConfigError,
        match=r"schedule.min_learning_rate: must be below the fine-tuning learning rate .*0.001",
    ):
        parse_config(mapping, "ft.yaml")
    mapping["schedule"]["min_learning_rate"] = 0.0005
    assert parse_config(mapping, "ft.yaml").optimizer.fine_tune_factor == 0.1


@pytest.mark.parametrize(
    ("unfreeze_from", "match"),
    [
        (
            "block9_conv",
            r"'block9_conv' is not a layer of the backbone 'simple_cnn' \(its layers: simple_cnn_input, block1_conv",
        ),
        (17, "layer index 17 but the backbone 'simple_cnn' has 17 layers"),
    ],
)
def test_unknown_unfreeze_layer_fails_before_training(
    tmp_path, data, unfreeze_from, match, recorder
):
    mapping = _mapping(data, tmp_path / "run", unfreeze_from=unfreeze_from)
    with pytest.raises(ConfigError, match=f"ft.yaml: model.unfreeze_from: {match}"):
        train(parse_config(mapping, "ft.yaml"))
    assert recorder == []  # nothing was trained


@pytest.mark.parametrize(
    ("kind", "sampler"),
    [
        ("siamese", {"kind": "pairs", "batch_size": 6, "steps_per_epoch": 2}),
        ("triplet", {"kind": "triplets", "batch_size": 6, "steps_per_epoch": 2}),
    ],
)
def test_pair_and_triplet_models_fine_tune_their_shared_network(
    tmp_path, data, kind, sampler, recorder
):
    mapping = _mapping(data, tmp_path / "run", epochs=2, freeze_epochs=1, kind=kind)
    mapping["sampler"] = sampler
    mapping["validation"] = {"protocol": "none"}
    result = train(parse_config(mapping))
    begin1, end1, begin2, end2 = recorder
    (kernel,) = [k for k in begin1["weights"] if k.endswith("block2_conv/kernel")]
    assert np.array_equal(end1["weights"][kernel], begin1["weights"][kernel])
    assert not np.array_equal(end2["weights"][kernel], begin2["weights"][kernel])
    np.testing.assert_allclose(result.history["learning_rate"], [LR, LR * FACTOR], rtol=1e-6)


def test_backbone_lr_factor_slows_the_backbone_only(tmp_path, monkeypatch):
    """optimizer.backbone_lr_factor: with a factor of 1e-6 the backbone barely moves while
    the head trains as usual; with 1 both move."""
    from embedding_net.training import trainer

    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    built = {}
    real_build = trainer.build_model

    def spy(config, num_classes):
        model, network = real_build(config, num_classes)
        built["network"] = network
        built["start"] = [
            keras.ops.convert_to_numpy(v) for v in network.backbone.trainable_variables
        ]
        built["head_start"] = [keras.ops.convert_to_numpy(v) for v in network.trainable_variables]
        return model, network

    monkeypatch.setattr(trainer, "build_model", spy)
    moved = {}
    for factor in (1e-6, 1.0):
        mapping = tiny_config_dict(
            data,
            tmp_path / f"run{factor}",
            training={"epochs": 1, "verbose": 0},
            validation={"protocol": "none"},
            optimizer={"name": "adam", "learning_rate": LR, "backbone_lr_factor": factor},
            # margin 5 > any distance of unit embeddings: every step has a gradient
            loss={"name": "batch-hard-triplet", "params": {"margin": 5.0}},
        )
        mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 3}
        train(parse_config(mapping))
        network = built["network"]
        backbone = max(
            float(np.abs(keras.ops.convert_to_numpy(v) - s).max())
            for v, s in zip(network.backbone.trainable_variables, built["start"])
        )
        everything = max(
            float(np.abs(keras.ops.convert_to_numpy(v) - s).max())
            for v, s in zip(network.trainable_variables, built["head_start"])
        )
        moved[factor] = (backbone, everything)
    # Adam steps are about lr in size: 3 steps of 1e-6 x lr, against about lr
    assert moved[1e-6][0] < 3 * LR * 1e-6 * 1.5, moved
    assert moved[1.0][0] > 0.5 * LR and moved[1e-6][1] > 0.5 * LR, moved


@pytest.mark.parametrize("bad", [0, 1.5, -0.1])
def test_backbone_lr_factor_is_validated(tmp_path, bad):
    mapping = tiny_config_dict(tmp_path, tmp_path / "run", optimizer={"backbone_lr_factor": bad})
    with pytest.raises(ConfigError, match=r"optimizer\.backbone_lr_factor: must be in \(0, 1\]"):
        parse_config(mapping)
