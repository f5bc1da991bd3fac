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


def _tiny_yaml(tmp_path, **sections):
    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    config = tiny_config_dict(data, tmp_path / "run", **sections)
    config["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    config["training"] = {"epochs": 1, "verbose": 0}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_final_trains_on_every_image_without_validation(tmp_path, capsys):
    path = _tiny_yaml(tmp_path)
    assert main(["train", "--config", str(path), "--final"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output_dir"] == str(tmp_path / "run_final") and summary["metrics"] == {}
    metrics = json.loads((tmp_path / "run_final" / "metrics.json").read_text())
    # 3 classes x (4 train + 2 val) images: the val/ folder trains too
    assert metrics["final"] is True and metrics["num_train_images"] == 18
    assert metrics["num_val_images"] == 0
    assert (tmp_path / "run_final" / "network.keras").is_file()
    assert not (tmp_path / "run").exists()
    saved = yaml.safe_load((tmp_path / "run_final" / "config.yaml").read_text())
    assert saved["data"]["val_fraction"] == 0
    # the chosen config's held-out split still evaluates; the final config's is refused by name
    assert main(["evaluate", "--model", summary["network"], "--config", str(path)]) == 0
    capsys.readouterr()
    final_yaml = tmp_path / "run_final" / "config.yaml"
    assert main(["evaluate", "--model", summary["network"], "--config", str(final_yaml)]) == 2
    assert "final-training mode" in capsys.readouterr().err


def test_train_repeats_writes_each_split_and_the_mean(tmp_path, capsys):
    path = _tiny_yaml(tmp_path)
    config = yaml.safe_load(path.read_text())  # 6 flat class folders, 2 held out per split
    config["data"] = {**config["data"], "split": "identity", "val_fraction": 0.34}
    config["data"]["root"] = str(write_class_folders(tmp_path / "flat", 6, (("", 5),)))
    config["sampler"] = {"kind": "pk", "P": 2, "K": 2, "steps_per_epoch": 2}
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(path), "--repeats", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split_seeds"] == [0, 1]
    report = json.loads((tmp_path / "run" / "repeats.json").read_text())
    values = [r["metrics"]["knn_top1"] for r in report["runs"]]
    for seed, run in zip([0, 1], report["runs"]):
        metrics = json.loads((tmp_path / "run" / f"split-{seed}" / "metrics.json").read_text())
        assert metrics["split_seed"] == seed and metrics["metrics"] == run["metrics"]
    assert report["summary"]["knn_top1"]["mean"] == sum(values) / 2
    # the two splits hold out different identities
    held = [
        json.loads((tmp_path / "run" / f"split-{s}" / "metrics.json").read_text()) for s in (0, 1)
    ]
    assert all(h["num_val_images"] > 0 for h in held)
    # again: refused; --resume reads the finished runs back without training
    assert main(["train", "--config", str(path), "--repeats", "2"]) == 2
    capsys.readouterr()
    before = (tmp_path / "run" / "split-0" / "network.keras").stat().st_mtime_ns
    assert main(["train", "--config", str(path), "--repeats", "2", "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["knn_top1"]["mean"] == sum(values) / 2
    assert (tmp_path / "run" / "split-0" / "network.keras").stat().st_mtime_ns == before


def test_train_repeats_and_final_usage_errors(tmp_path, capsys):
    path = _tiny_yaml(tmp_path)
    assert main(["train", "--config", str(path), "--repeats", "0"]) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err
    assert main(["train", "--config", str(path), "--repeats", "2", "--final"]) == 2
    assert "--final" in capsys.readouterr().err
    path.write_text(path.read_text().replace("split: given", "split: given\n  val_fraction: 0"))
    assert main(["train", "--config", str(path), "--repeats", "2"]) == 2
    assert "final-training mode" in capsys.readouterr().err
