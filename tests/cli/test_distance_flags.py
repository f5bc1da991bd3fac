"""One --distance flag (names of embedding_net.distances), --metric as a deprecated alias, and
the threshold convention stated in each subcommand's --help."""

import json

import numpy as np
import pytest

from embedding_net.cli import main
from embedding_net.evaluation import EmbeddingIndex
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return trained_run(tmp_path_factory)


@pytest.mark.parametrize("command", ["compare", "encode", "serve"])
def test_help_states_the_threshold_convention(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    if command == "compare":
        assert "same when score <= threshold for a distance" in text
        assert "--distance" in text and "deprecated alias of --distance" in text
    elif command == "encode":
        assert "`serve --threshold` is in its units" in text
    else:
        assert "distance <= t" in text and "similarity >= t" in text


def test_compare_distance_flag_and_deprecated_metric(tiny, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    pair = [str(data / "val" / "c1" / "val00.png"), str(data / "val" / "c4" / "val00.png")]
    assert main(["compare", *pair, "--model", model, "--distance", "L2", "--json"]) == 0
    new = json.loads(capsys.readouterr().out)
    assert main(["compare", *pair, "--model", model, "--metric", "euclidean", "--json"]) == 0
    captured = capsys.readouterr()
    old = json.loads(captured.out)
    assert "--metric is deprecated, use --distance" in captured.err
    assert new["score"] == pytest.approx(old["score"]) and new["score_name"] == "euclidean distance"
    # angular = 1 - cosine similarity, a distance: same when <= threshold
    assert main(["compare", *pair, "--model", model, "--distance", "angular", "--json"]) == 0
    angular = json.loads(capsys.readouterr().out)
    assert main(["compare", *pair, "--model", model, "--json"]) == 0
    cosine = json.loads(capsys.readouterr().out)
    assert angular["score"] == pytest.approx(max(1 - cosine["score"], 0.0), abs=1e-9)
    assert angular["same"] == (angular["score"] <= angular["threshold"])
    assert main(["compare", *pair, "--model", model, "--distance", "manhattan"]) == 2
    assert "L2" in capsys.readouterr().err  # the error lists the valid names
    assert main(["compare", *pair, "--model", model, "--distance", "dot"]) == 2
    assert "--threshold" in capsys.readouterr().err


def test_cosine_index_is_a_similarity_index(tiny, tmp_path, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    index_path = tmp_path / "cos.npz"
    args = ["encode", str(data / "train"), "--model", model, "--output", str(index_path)]
    assert main([*args, "--distance", "cosine"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["distance"] == "cosine"
    assert "--distance angular" in captured.err
    index = EmbeddingIndex.load(index_path)
    assert index.distance == "cosine"
    query = str(data / "val" / "c2" / "val00.png")
    search = ["search", query, "--index", str(index_path), "--model", model, "-k", "4", "--json"]
    assert main(search) == 0
    matches = json.loads(capsys.readouterr().out)["matches"]
    similarities = [m["similarity"] for m in matches]
    assert similarities == sorted(similarities, reverse=True)
    assert all(-1 - 1e-6 <= s <= 1 + 1e-6 for s in similarities)
    # the same neighbours as an angular (1 - cos) index
    angular = tmp_path / "angular.npz"
    assert main([*args[:-1], str(angular), "--distance", "angular"]) == 0
    capsys.readouterr()
    search[3] = str(angular)
    assert main(search) == 0
    angular_matches = json.loads(capsys.readouterr().out)["matches"]
    distances = [m["distance"] for m in angular_matches]
    assert [m["path"] for m in angular_matches] == [m["path"] for m in matches]
    np.testing.assert_allclose(distances, 1 - np.asarray(similarities), atol=1e-5)


def test_evaluate_offers_every_registered_protocol(tiny, capsys):
    from embedding_net.data import list_class_folders, load_images
    from embedding_net.evaluation import retrieval_metrics
    from embedding_net.saving import load_model

    out, data = tiny
    model = str(out / "network.keras")
    assert main(["evaluate", "--model", model, "--protocol", "retrieval", "--data", str(data)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "retrieval"
    records = list_class_folders(data)
    emb = load_model(model).encode(load_images([r.path for r in records], (16, 16)).images)
    labels = np.asarray([r.label for r in records])
    is_val = np.asarray([r.metadata["split"] == "val" for r in records])
    expected = retrieval_metrics(emb[is_val], labels[is_val], emb[~is_val], labels[~is_val])
    assert result["map_at_r"] == pytest.approx(expected["map_at_r"])
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", model, "--protocol", "ranking", "--data", str(data)])
