"""The parts of a training run: the fine-tune plan, the run directory, the sampler table."""

import json

import pytest

from embedding_net.config import ConfigError, parse_config
from embedding_net.config.schema import SAMPLERS
from embedding_net.training import (
    RUN_OUTPUTS,
    TRAIN_SAMPLERS,
    FineTunePlan,
    RunDirectory,
)


def _config(**model):
    mapping = {
        "data": {"root": "x"},
        "model": model,
        "training": {"epochs": 5},
        "optimizer": {"learning_rate": 0.01, "fine_tune_factor": 0.1},
    }
    return parse_config(mapping, "plan.yaml")


def test_one_phase_without_a_schedule(tmp_path):
    run = RunDirectory(tmp_path)
    (phase,) = FineTunePlan.from_config(_config(), run).phases
    assert (phase.name, phase.first_epoch, phase.end_epoch, phase.epochs) == ("train", 0, 5, 5)
    assert phase.learning_rate == 0.01 and phase.backup == tmp_path / "backup"
    assert phase.early_stopping and not phase.unfreeze


def test_frozen_then_fine_tune_phases(tmp_path):
    run = RunDirectory(tmp_path)
    plan = FineTunePlan.from_config(_config(freeze_epochs=2, unfreeze_from="block3"), run)
    frozen, fine = plan.phases
    assert (frozen.first_epoch, frozen.end_epoch, fine.first_epoch, fine.end_epoch) == (0, 2, 2, 5)
    assert not frozen.early_stopping and fine.early_stopping and fine.unfreeze
    assert fine.learning_rate == pytest.approx(0.001) and fine.epochs == 3
    assert fine.backup == tmp_path / "backup" / "fine_tune" and frozen.backup == run.backup
    assert plan.unfreeze_from == "block3" and plan.is_last(fine) and not plan.is_last(frozen)


def test_pending_skips_phases_a_later_backup_has_passed(tmp_path):
    run = RunDirectory(tmp_path)
    plan = FineTunePlan.from_config(_config(freeze_epochs=2), run)
    assert plan.pending() == list(plan.phases)
    run.backup.mkdir()
    (run.backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    assert plan.pending() == list(plan.phases)  # the frozen phase's own backup: still listed
    (run.backup / "fine_tune").mkdir()
    (run.backup / "fine_tune" / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    assert plan.pending() == [plan.phases[1]]


def test_unfreeze_from_is_checked_against_the_backbone(tmp_path):
    from embedding_net.training import build_network

    config = _config(freeze_epochs=1, unfreeze_from="no_such_layer")
    config.data.image_size = [16, 16]
    network = build_network(config)
    plan = FineTunePlan.from_config(config, RunDirectory(tmp_path))
    with pytest.raises(ConfigError, match=r"plan.yaml: model.unfreeze_from: 'no_such_layer'"):
        plan.check(config, network)
    index = FineTunePlan.from_config(
        _config(freeze_epochs=1, unfreeze_from=999), RunDirectory(tmp_path)
    )
    with pytest.raises(ConfigError, match=r"layer index 999 but the backbone"):
        index.check(config, network)
    FineTunePlan.from_config(_config(), RunDirectory(tmp_path)).check(config, network)


def test_prepare_refuses_non_empty_folders_and_overwrites_only_run_outputs(tmp_path):
    out = tmp_path / "run"
    assert RunDirectory.prepare(out, resume=False, overwrite=False).path == out and out.is_dir()
    (out / "metrics.json").write_text("{}")
    (out / "backup").mkdir()
    with pytest.raises(FileExistsError, match="--resume"):
        RunDirectory.prepare(out, resume=False, overwrite=False)
    RunDirectory.prepare(out, resume=True, overwrite=False)  # a backup/ to resume from
    RunDirectory.prepare(out, resume=False, overwrite=True)
    assert list(out.iterdir()) == []
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        RunDirectory.prepare(out, resume=False, overwrite=True)
    assert (out / "notes.txt").exists()
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        RunDirectory.prepare(tmp_path / "fresh", resume=True, overwrite=False)


def test_write_inputs_metrics_and_resume_checks(tmp_path):
    run = RunDirectory.prepare(tmp_path / "run", resume=False, overwrite=False)
    config = _config(freeze_epochs=2)
    run.write_inputs(config, {"a": 0, 7: 1})
    assert json.loads((run.path / "label_map.json").read_text()) == {"a": 0, "7": 1}
    run.check_resume(config)  # the same schedule
    with pytest.raises(ConfigError, match=r"model.freeze_epochs: resume with 3.*started with 2"):
        run.check_resume(_config(freeze_epochs=3))
    run.write_metrics({"best_epoch": 2})
    assert json.loads((run.path / "metrics.json").read_text()) == {"best_epoch": 2}
    names = {p.name for p in run.path.iterdir()}
    assert names <= set(RUN_OUTPUTS)
    assert (run.best_model.name, run.network.name, run.history_csv.name, run.logs.name) == (
        "best.keras",
        "network.keras",
        "history.csv",
        "logs",
    )


def test_a_train_sampler_for_every_sampler_kind():
    assert tuple(TRAIN_SAMPLERS) == SAMPLERS
    assert all(callable(builder) for builder in TRAIN_SAMPLERS.values())


def test_names_importable_before_the_package_split_still_are():
    import embedding_net.training as training

    for name in (
        "train",
        "TrainingResult",
        "build_network",
        "build_model",
        "build_train_dataset",
        "compile_model",
        "save_network",
        "save_trained",
        "SaveError",
        "LearningRateLog",
        "ProtocolEvaluation",
        "RUN_OUTPUTS",
    ):
        assert hasattr(training, name), name
    assert issubclass(training.SaveError, RuntimeError)


def test_no_private_keras_state_in_the_training_package():
    from pathlib import Path

    import embedding_net.training as training

    for path in Path(training.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "_initial_epoch" not in text and "keras.src" not in text, path.name


def test_leftover_temporaries_of_a_killed_run_are_removed_on_resume_and_overwrite(tmp_path):
    from embedding_net.atomic import temporary_name

    run = RunDirectory.prepare(tmp_path / "run", resume=False, overwrite=False)
    (run.path / "network.keras").write_bytes(b"complete")
    leftovers = [temporary_name(run.path / "network.keras")]
    run.backup.mkdir()
    leftovers.append(temporary_name(run.backup / "latest.weights.h5"))
    for path in leftovers:
        path.write_bytes(b"half")
    RunDirectory.prepare(run.path, resume=True, overwrite=False)
    assert not any(p.exists() for p in leftovers) and (run.path / "network.keras").exists()
    leftovers[0].write_bytes(b"half")
    RunDirectory.prepare(run.path, resume=False, overwrite=True)  # not "files it did not write"
    assert list(run.path.iterdir()) == []


def _split_of(tmp_path, sampler):
    from embedding_net.config.records import list_records, split_records, split_seed
    from tests.config.tiny_run import tiny_config_dict, write_class_folders

    root = write_class_folders(tmp_path / "data", n_classes=4, per_split=(("train", 6), ("val", 2)))
    mapping = tiny_config_dict(root, tmp_path / "run")
    mapping["sampler"] = sampler  # steps per epoch from the images, not the tiny run's 4
    mapping["model"]["kind"] = {"pairs": "siamese", "triplets": "triplet"}.get(sampler["kind"])
    if mapping["model"]["kind"] is None:
        del mapping["model"]["kind"]
    config = parse_config(mapping, "tiny.yaml")
    records, triplets = list_records(config.data)
    return config, split_records(records, triplets, config.data, split_seed(config))


@pytest.mark.parametrize(
    "sampler",
    [
        {"kind": "pk", "P": 2, "K": 3},
        {"kind": "random", "batch_size": 4},
        {"kind": "pairs", "batch_size": 4},
        {"kind": "triplets", "batch_size": 4},
    ],
    ids=lambda s: s["kind"],
)
def test_train_datasets_are_infinite_and_fit_runs_their_steps_per_epoch(tmp_path, sampler):
    """One iterator for the whole run (fit(steps_per_epoch=...)), not one per epoch."""
    import tensorflow as tf

    from embedding_net.training import build_train_dataset

    config, split = _split_of(tmp_path, sampler)
    dataset, steps = build_train_dataset(config, split)
    assert dataset.cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    assert steps == max(1, 24 // {"pk": 6}.get(sampler["kind"], 4))
    assert len(list(dataset.take(3 * steps))) == 3 * steps  # runs past one epoch


def test_the_infinite_pk_dataset_yields_the_batches_of_the_per_epoch_one(tmp_path):
    """The sampler's draws continue across epochs: two epochs of the infinite dataset are
    the two epochs a finite dataset of ``steps`` batches yields when iterated twice. A second
    ``fit`` (the fine-tuning phase) continues the stream after the batches the first one's
    iterator had prefetched: later draws, none repeated."""
    import numpy as np

    from embedding_net import data as en_data
    from embedding_net.training import build_train_dataset

    config, split = _split_of(tmp_path, {"kind": "pk", "P": 2, "K": 3})
    dataset, steps = build_train_dataset(config, split)
    source = [(r.path, split.label_map[r.label], r.metadata) for r in split.train]
    finite = en_data.pk_batches(source, 2, 3, (16, 16), seed=config.seed, batches_per_epoch=steps)
    assert finite.cardinality().numpy() == steps
    stream = [batch for _ in range(8) for batch in finite]  # a new iterator per epoch
    infinite = list(dataset.take(2 * steps))  # one iterator: fit(steps_per_epoch=...)
    assert len(infinite) == 2 * steps
    for (x1, y1), (x2, y2) in zip(stream, infinite):
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    assert len({tuple(y.numpy()) for _, y in infinite}) > 1  # not one batch repeated

    again, _ = build_train_dataset(config, split)
    first, second = list(again.take(steps)), list(again.take(steps))  # two iterators

    def key(batch):
        return batch[0].numpy().tobytes() + batch[1].numpy().tobytes()

    keys = [key(batch) for batch in stream]
    assert [key(batch) for batch in first] == keys[:steps]
    start = keys.index(key(second[0]))
    assert start >= steps and keys[start : start + steps] == [key(batch) for batch in second]
