"""``--model`` takes a preset directory (``BaseNetwork.save_to_preset``) as well as a .keras file."""

import json

import numpy as np
import pytest

from embedding_net.cli import main
from embedding_net.evaluation import EmbeddingIndex
from embedding_net.saving import load_model
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    out, data = trained_run(tmp_path_factory)
    network = load_model(out / "network.keras")
    metrics = (
        json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else None
    )
    path = network.save_to_preset(tmp_path_factory.mktemp("preset") / "tiny", metrics=metrics)
    return out, data, path


def test_encode_and_search_with_a_preset_directory(preset, tmp_path, capsys):
    out, data, path = preset
    from_file, from_preset = tmp_path / "file.npz", tmp_path / "preset.npz"
    args = ["encode", str(data / "train"), "--output"]
    assert main([*args, str(from_file), "--model", str(out / "network.keras")]) == 0
    assert main([*args, str(from_preset), "--model", str(path)]) == 0
    np.testing.assert_allclose(
        EmbeddingIndex.load(from_preset).embeddings,
        EmbeddingIndex.load(from_file).embeddings,
        atol=1e-6,
    )
    capsys.readouterr()
    query = str(data / "val" / "c2" / "val00.png")
    search = ["search", query, "--index", str(from_preset), "--model", str(path), "-k", "3"]
    assert main([*search, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["matches"]) == 3


def test_evaluate_with_a_preset_directory(preset, capsys):
    out, data, path = preset
    args = ["evaluate", "--protocol", "classification", "--data", str(data)]
    assert main([*args, "--model", str(path)]) == 0
    from_preset = json.loads(capsys.readouterr().out)
    assert main([*args, "--model", str(out / "network.keras")]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_preset.pop("model") == str(path)
    from_file.pop("model")
    assert from_preset == from_file and from_preset["knn_top1"] > 0


def test_a_folder_that_is_no_preset_is_refused(preset, tmp_path, capsys):
    data = preset[1]
    (tmp_path / "empty").mkdir()
    args = ["encode", str(data / "train"), "--output", str(tmp_path / "x.npz")]
    assert main([*args, "--model", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "--model" in err and "metadata.json" in err and "empty" in err


def test_export_and_compare_with_a_preset_directory(preset, tmp_path, capsys):
    out, data, path = preset
    target = tmp_path / "served"
    assert main(["export", "--model", str(path), "--output", str(target)]) == 0
    assert (target / "saved_model.pb").is_file()
    capsys.readouterr()
    a, b = str(data / "val" / "c2" / "val00.png"), str(data / "val" / "c3" / "val00.png")
    assert main(["compare", a, b, "--model", str(path)]) == 0
    with_preset = capsys.readouterr().out
    assert main(["compare", a, b, "--model", str(out / "network.keras")]) == 0
    assert capsys.readouterr().out == with_preset
