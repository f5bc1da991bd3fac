"""`embedding-net search IMG --index I --model M -k 5`: nearest matches and the grid picture."""

import json

import numpy as np
import pytest
from PIL import Image

from embedding_net.cli import main
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    out, data = trained_run(tmp_path_factory)
    index = tmp_path_factory.mktemp("search") / "train.npz"
    model = str(out / "network.keras")
    assert main(["encode", str(data / "train"), "--model", model, "--output", str(index)]) == 0
    return model, data, index


def test_search_finds_the_query_class(indexed, tmp_path, capsys):
    model, data, index = indexed
    capsys.readouterr()
    query = str(data / "val" / "c2" / "val00.png")
    grid = tmp_path / "top5.png"
    args = ["search", query, "--index", str(index), "--model", model, "-k", "5"]
    assert main([*args, "--grid", str(grid), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.split("\nwrote")[0])
    distances = [m["distance"] for m in result["matches"]]
    assert len(distances) == 5 and distances == sorted(distances)
    assert result["predicted_label"] == "c2"  # colour classes are easy after training
    with Image.open(grid) as picture:
        assert picture.size[0] > 300 and np.asarray(picture).std() > 0
    # an existing grid is not replaced without --overwrite
    assert main([*args, "--grid", str(grid)]) == 2
    assert main([*args, "--grid", str(grid), "--overwrite", "--query-label", "c2"]) == 0


def test_search_errors(indexed, tmp_path, capsys):
    model, data, index = indexed
    query = str(data / "val" / "c0" / "val00.png")
    assert main(["search", query, "--index", str(index), "--model", model, "-k", "0"]) == 2
    assert main(["search", query, "--index", str(tmp_path / "no.npz"), "--model", model]) == 2
    assert "does not exist" in capsys.readouterr().err
