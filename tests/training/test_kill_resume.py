"""Kill a real ``embedding-net train`` at seeded-random moments, then ``--resume`` it.

Each resumed run must continue from the last complete backup (its ``epochs_run`` is what the
verified backup left to do) and finish with a complete, loadable ``network.keras``, or exit
with a clear message (exit code 2, no traceback). After every kill, the files under their
final names are complete (zip archives that test clean, JSON that parses) and the verified
backup epoch never goes back. A truncated file made by hand is refused by name.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from embedding_net.atomic import leftover_temporaries
from embedding_net.callbacks.backup import BackupError, backup_epoch
from tests.config.tiny_run import tiny_config_dict, write_class_folders
from tests.kill_harness import FaultCounts, classify, hidden_temporaries, run_child

EPOCHS = 8
MODELS = ("best.keras", "final.keras", "network.keras")


def _config(tmp_path: Path) -> Path:
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    config = tiny_config_dict(data, tmp_path / "run")
    config["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    config["training"] = {"epochs": EPOCHS, "verbose": 0}
    config["callbacks"] = {"tensorboard": False}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _committed_epoch(run: Path) -> int | None:
    """The backup's verified epoch (None: a backup the resume must refuse)."""
    try:
        return backup_epoch(run / "backup", verify=True)
    except BackupError:
        return None


def _damaged_files(run: Path) -> list[str]:
    """Files under their final names that are not complete."""
    bad = []
    for name in MODELS:
        path = run / name
        if path.exists() and (not zipfile.is_zipfile(path) or zipfile.ZipFile(path).testzip()):
            bad.append(name)
    for name in ("metrics.json", "label_map.json", "backup/training_metadata.json"):
        path = run / name
        if path.exists():
            try:
                json.loads(path.read_text())
            except ValueError:
                bad.append(name)
    if (run / "history.csv").exists():
        rows = list(csv.reader((run / "history.csv").open(newline="")))
        if any(len(row) != len(rows[0]) for row in rows):
            bad.append("history.csv")
    return bad


def _kill_plan(run: Path, rng: np.random.Generator) -> list:
    """``(name, trigger, delay)`` of the kills, in order: soon after the run folder is
    prepared, mid-training, while a backup is written, while the final models are saved."""
    backup = run / "backup"
    start = [0]  # the verified epoch when the run to be killed starts (set by the caller)

    def soon_after_setup():  # the run folder is prepared: kill in the first epochs
        return (run / "label_map.json").is_file()

    def mid_training():  # this run has backed up an epoch of its own, more are to come
        epoch = _committed_epoch(run)
        return epoch is not None and start[0] < epoch < EPOCHS - 2

    def writing_backup():
        return bool(hidden_temporaries(backup, "latest.weights.h5"))

    def final_save():
        return bool(
            hidden_temporaries(run, "final.keras") or hidden_temporaries(run, "network.keras")
        )

    return start, [
        ("setup or first epochs", soon_after_setup, float(rng.uniform(0.0, 3.0))),
        ("mid-training", mid_training, float(rng.uniform(0.0, 0.8))),
        ("writing a backup", writing_backup, float(rng.uniform(0.0, 0.01))),
        ("final save", final_save, float(rng.uniform(0.0, 0.15))),
    ]


def _check_finished(run: Path, outcome, before: int | None, counts: FaultCounts) -> None:
    summary = json.loads(outcome.stdout)
    if before is not None and summary["epochs_run"] != EPOCHS - before:
        counts.lost += 1
        counts.notes.append(f"resumed from epoch {before} but ran {summary['epochs_run']}")


@pytest.mark.slow
def test_killed_training_resumes_from_the_last_complete_backup(tmp_path):
    config = _config(tmp_path)
    run = tmp_path / "run"
    train = ["train", "--config", str(config)]
    counts = FaultCounts()
    rng = np.random.default_rng(2812)
    mode = ["--overwrite"]
    last_epoch = 0
    start, plan = _kill_plan(run, rng)
    for name, trigger, delay in plan:
        for _attempt in range(2):  # a clear refusal (nothing to resume yet): afresh, once
            before = _committed_epoch(run) if "--resume" in mode else None
            start[0] = before or 0
            outcome = run_child(train + mode, trigger=trigger, delay=delay)
            kind = classify(outcome, counts, f"{name} ({' '.join(mode)})")
            if kind != "clear":
                break
            mode, last_epoch = ["--overwrite"], 0
        if kind == "killed":
            epoch = _committed_epoch(run)
            counts.notes.append(
                f"killed at {name} after {outcome.seconds:.1f}s (backup epoch {epoch})"
            )
            damaged = _damaged_files(run)
            if damaged or (epoch is not None and epoch < last_epoch):
                counts.lost += 1
                counts.notes.append(f"after {name}: damaged {damaged}, epoch {epoch}")
            last_epoch = epoch or last_epoch
        elif kind == "ok":
            _check_finished(run, outcome, before, counts)
            counts.resumed += before is not None
        mode = ["--resume"]
    before = _committed_epoch(run) if "--resume" in mode else None
    final = run_child(train + mode)
    kind = classify(final, counts, f"final run ({' '.join(mode)})")
    if kind == "clear":
        before, final = None, run_child(train + ["--overwrite"])
        kind = classify(final, counts, "final run (--overwrite)")
    assert kind == "ok", str(counts)
    _check_finished(run, final, before, counts)
    counts.resumed += before is not None

    from embedding_net import load_model

    network = load_model(run / "network.keras", compile=False)
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("float32")
    assert np.isfinite(np.asarray(network.predict(images, verbose=0))).all(), str(counts)
    epochs = [int(row["epoch"]) for row in csv.DictReader((run / "history.csv").open())]
    if epochs != list(range(EPOCHS)):
        counts.lost += 1
        counts.notes.append(f"history.csv epochs {epochs}")
    assert json.loads((run / "metrics.json").read_text())["metrics"], str(counts)
    assert leftover_temporaries(run) == leftover_temporaries(run / "backup") == [], str(counts)
    assert counts.cases >= 3 and counts.crashes == 0 and counts.lost == 0, str(counts)
    print(counts)


def test_truncated_files_of_a_run_are_refused_by_name(tmp_path, capsys):
    """By hand: a truncated backup, network.keras and metrics.json are each refused with a
    message naming the file, never taken as valid."""
    from embedding_net.cli import UsageError, main
    from embedding_net.cli.compare import _saved_threshold
    from embedding_net.config import parse_config
    from embedding_net.evaluation.protocols import get_protocol
    from embedding_net.training import train

    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    config = tiny_config_dict(data, tmp_path / "run")
    config["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    config["training"] = {"epochs": 1, "verbose": 0}
    config["callbacks"] = {"tensorboard": False}
    config["validation"] = {"protocol": "none"}
    run = train(parse_config(config, "tiny.yaml")).output_dir

    weights = run / "backup" / "latest.weights.h5"
    intact = weights.read_bytes()
    weights.write_bytes(intact[: len(intact) // 3])
    with pytest.raises(BackupError, match=r"latest\.weights\.h5 does not match"):
        train(parse_config(config, "tiny.yaml"), resume=True)
    weights.write_bytes(intact)
    (run / "backup" / "training_metadata.json").write_text('{"epoch": 2, "sha')
    with pytest.raises(BackupError, match=r"training_metadata\.json is not readable JSON"):
        train(parse_config(config, "tiny.yaml"), resume=True)

    network = run / "network.keras"
    network.write_bytes(network.read_bytes()[:1000])
    output = tmp_path / "index.npz"
    assert (
        main(["encode", str(data / "val"), "--model", str(network), "--output", str(output)]) == 2
    )
    assert f"--model {network} is not a complete .keras archive" in capsys.readouterr().err
    assert not output.exists()
    from embedding_net.app.loading import load_network
    from embedding_net.saving import load_model

    with pytest.raises(ValueError, match=r"network\.keras is not a complete \.keras archive"):
        load_model(network)
    with pytest.raises(ValueError, match=r"network\.keras is not a complete \.keras archive"):
        load_network(network)

    metrics = run / "metrics.json"
    metrics.write_text('{"protocol": "verification",\n "metrics": {"thr')
    with pytest.raises(UsageError, match=rf"{metrics} is not valid JSON \(line 2"):
        _saved_threshold(run / "best.keras", get_protocol("verification").distance)
