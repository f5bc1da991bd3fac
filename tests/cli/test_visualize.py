"""`embedding-net visualize`: interactive t-SNE page with thumbnails, static PNG, refusals."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from embedding_net.cli import main
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return trained_run(tmp_path_factory)


def test_visualize_html_and_png(tiny, tmp_path, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    html = tmp_path / "tsne.html"
    assert main(["visualize", str(data / "train"), "--model", model, "--output", str(html)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"output": str(html), "images": 48, "labels": 6}
    page = html.read_text()
    start = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page).end()
    traces, _ = json.JSONDecoder().raw_decode(page[start:])
    assert len(traces) == 6  # one trace per class
    rows = [row for trace in traces for row in trace["customdata"]]
    assert len(rows) == 48 and all(row[1].startswith("data:image/png;base64,") for row in rows)
    png = tmp_path / "tsne.png"
    args = [
        "visualize",
        str(data / "val"),
        "--model",
        model,
        "--output",
        str(png),
        "--max-images",
        "10",
    ]
    assert main(args) == 0
    with Image.open(png) as picture:
        assert picture.format == "PNG" and np.asarray(picture).std() > 0
    assert json.loads(capsys.readouterr().out)["images"] == 10
    assert main(args) == 2  # exists, no --overwrite
    assert main([*args[:-4], "--output", str(tmp_path / "t.gif")]) == 2
    assert "expected .html" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["sklearn", "opentsne", "umap"])
def test_visualize_methods(tiny, tmp_path, capsys, method, monkeypatch):
    out, data = tiny
    args = ["visualize", str(data / "val"), "--model", str(out / "network.keras")]
    args += ["--output", str(tmp_path / f"{method}.png"), "--max-images", "12", "--method", method]
    module = {"sklearn": "sklearn", "opentsne": "openTSNE", "umap": "umap"}[method]
    import importlib.util

    if importlib.util.find_spec(module) is None:
        assert main(args) == 2  # a clear refusal naming the extra to install
        assert f"embedding-net[{'tsne' if method == 'opentsne' else method}]" in (
            capsys.readouterr().err
        )
        return
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 12
    with Image.open(tmp_path / f"{method}.png") as picture:
        assert picture.format == "PNG" and np.asarray(picture).std() > 0
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == module else real(n, *a)
    )
    if method != "sklearn":
        args[-5] = str(tmp_path / f"{method}_missing.png")
        assert main(args) == 2
        assert "pip install embedding-net[" in capsys.readouterr().err
