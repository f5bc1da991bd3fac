"""`embedding-net train`: end to end on written images; overrides; refusals; config errors."""

import json

import yaml

from embedding_net.cli import main
from tests.config.tiny_run import tiny_config_dict, write_class_folders


def test_train_cli_end_to_end(tmp_path, capsys):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    config = tiny_config_dict(data, tmp_path / "run")
    config["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(path), "--set", "training.epochs=1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 1 and "knn_top1" in summary["metrics"]
    assert (tmp_path / "run" / "network.keras").is_file()
    # the same output folder again: refused (exit 2), nothing replaced
    before = (tmp_path / "run" / "best.keras").stat().st_mtime_ns
    assert main(["train", "--config", str(path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "run" / "best.keras").stat().st_mtime_ns == before
    assert main(["train", "--config", str(path), "--set", "training.epochs=1", "--overwrite"]) == 0


def test_train_cli_bad_config_exit_2_names_key_and_file(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("data: {root: x}\ntraining: {epoch: 3}\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "training.epoch: unknown key" in err
    path.write_text("data: {root: x}\n")
    assert main(["train", "--config", str(path), "--set", "training.epochs=lots"]) == 2
    assert "training.epochs: expected an integer" in capsys.readouterr().err
    assert main(["train", "--config", str(path), "--set", "novalue"]) == 2
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_train_help(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    assert "--resume" in capsys.readouterr().out
