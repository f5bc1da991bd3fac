"""`embedding-net evaluate`: classification vs brute force, re-id and verification on samples."""

import json

import keras
import numpy as np
import pytest

from embedding_net.cli import main
from embedding_net.data import list_class_folders, load_images
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return trained_run(tmp_path_factory)


def _evaluate(capsys, *args):
    code = main(["evaluate", *args])
    return code, (json.loads(capsys.readouterr().out) if code == 0 else None)


def test_classification_matches_brute_force(tiny, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    code, result = _evaluate(
        capsys, "--model", model, "--protocol", "classification", "--data", str(data)
    )
    assert code == 0
    records = list_class_folders(data)
    network = keras.saving.load_model(model)
    emb = network.encode(load_images([r.path for r in records], (16, 16)).images)
    labels = np.asarray([r.label for r in records])
    is_val = np.asarray([r.metadata["split"] == "val" for r in records])
    d = np.linalg.norm(emb[is_val][:, None] - emb[~is_val][None], axis=-1)
    expected = np.mean(labels[~is_val][d.argmin(axis=1)] == labels[is_val])
    assert result["knn_top1"] == pytest.approx(expected)
    # the training config's held-out split gives the same numbers as the training run
    code, from_config = _evaluate(capsys, "--model", model, "--config", str(out / "config.yaml"))
    summary = json.loads((out / "metrics.json").read_text())
    assert from_config["knn_top1"] == pytest.approx(summary["metrics"]["knn_top1"])


@pytest.mark.data
def test_reid_and_verification_on_samples(tiny, shared_data, capsys):
    out, _ = tiny
    model = str(out / "network.keras")
    cuhk = shared_data("sample", "reid_cuhk03")
    code, reid = _evaluate(
        capsys, "--model", model, "--protocol", "reid", "--data", str(cuhk), "--layout", "cuhk03"
    )
    assert code == 0 and 0.0 <= reid["mAP"] <= 1.0 and reid["rank1"] <= reid["rank5"]
    assert reid["num_queries"] == 64  # 32 identities x 2 cameras
    code, reranked = _evaluate(
        capsys,
        "--model", model, "--protocol", "reid", "--data", str(cuhk), "--layout", "cuhk03",
        "--rerank",
    )  # fmt: skip
    assert code == 0 and reranked["rerank"] is True and not reid["rerank"]
    assert reranked["num_queries"] == 64 and 0.0 <= reranked["mAP"] <= 1.0
    lfw = shared_data("sample", "faces_lfw")
    code, ver = _evaluate(
        capsys,
        "--model", model, "--protocol", "verification", "--data", str(lfw), "--layout", "lfw",
        "--pairs", str(lfw / "pairs_sample.txt"), "--flip",
    )  # fmt: skip
    assert code == 0 and ver["num_pairs"] == 200 and 0.0 <= ver["pair_accuracy"] <= 1.0


def test_evaluate_usage_errors(tiny, tmp_path, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    assert main(["evaluate", "--model", model, "--data", str(data)]) == 2  # no --protocol
    assert "--protocol is required" in capsys.readouterr().err
    metrics = tmp_path / "m.json"
    metrics.write_text("{}")
    args = ["evaluate", "--model", model, "--protocol", "classification", "--data", str(data)]
    assert main([*args, "--output", str(metrics)]) == 2
    assert metrics.read_text() == "{}"
    assert main([*args, "--output", str(metrics), "--overwrite"]) == 0
    assert "knn_top1" in json.loads(metrics.read_text())
    assert main([*args, "--rerank"]) == 2
    assert "--rerank applies to --protocol reid" in capsys.readouterr().err


def test_evaluate_repeats_report_mean_and_sd(tiny, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    args = ["--model", model, "--protocol", "verification", "--data", str(data / "train")]
    code, one = _evaluate(capsys, *args, "--num-pairs", "20")
    code, three = _evaluate(capsys, *args, "--num-pairs", "20", "--repeats", "3")
    assert code == 0 and three["repeats"] == 3
    # the first draw is the plain run (same seed); the summary is over seeds 0, 1, 2
    assert three["pair_accuracy"] == pytest.approx(one["pair_accuracy"])
    runs = [
        _evaluate(capsys, *args, "--num-pairs", "20", "--seed", str(s))[1]["pair_accuracy"]
        for s in range(3)
    ]
    assert three["summary"]["pair_accuracy"]["mean"] == pytest.approx(np.mean(runs))
    assert three["summary"]["pair_accuracy"]["sd"] == pytest.approx(np.std(runs, ddof=1))
    assert main(["evaluate", *args, "--repeats", "0"]) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err


def test_config_flip_is_the_default_and_draws_of_one_image_set_encode_once(
    tiny, tmp_path, capsys, monkeypatch
):
    import yaml

    from embedding_net.evaluation.protocols import Protocol

    out, _ = tiny
    model = str(out / "network.keras")
    config = yaml.safe_load((out / "config.yaml").read_text())
    config["validation"]["flip"] = True
    flipped = tmp_path / "flip.yaml"
    flipped.write_text(yaml.safe_dump(config))
    calls = []
    encode = Protocol.encode

    def counting(self, network, validation, batch_size=128, flip=False):
        calls.append(flip)
        return encode(self, network, validation, batch_size, flip)

    monkeypatch.setattr(Protocol, "encode", counting)
    code, default = _evaluate(capsys, "--model", model, "--config", str(flipped))
    assert code == 0 and default["flip"] is True and calls == [True]
    code, off = _evaluate(capsys, "--model", model, "--config", str(flipped), "--no-flip")
    assert code == 0 and off["flip"] is False and calls[-1] is False
    code, plain = _evaluate(capsys, "--model", model, "--config", str(out / "config.yaml"))
    assert plain["flip"] is False and plain["knn_top1"] == pytest.approx(off["knn_top1"])
    # three draws of the same held-out images: one encoding, the same numbers each time
    calls.clear()
    args = ["--model", model, "--config", str(flipped), "--repeats", "3"]
    code, three = _evaluate(capsys, *args)
    assert code == 0 and len(calls) == 1
    assert three["summary"]["knn_top1"]["values"] == pytest.approx([default["knn_top1"]] * 3)
