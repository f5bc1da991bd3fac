"""Interactive t-SNE: plotly figure, standalone HTML with hover thumbnails."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("plotly", reason="plotly is the optional 'viz' extra")

from embedding_net.visualization import (  # noqa: E402
    image_to_data_uri,
    plot_tsne_interactive,
    save_interactive_html,
)

URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _solid_images(colours: np.ndarray, size: int = 20) -> np.ndarray:
    """One solid-colour uint8 image per row of ``colours`` (N, 3)."""
    return np.broadcast_to(colours[:, None, None, :], (len(colours), size, size, 3)).astype(
        np.uint8
    )


def _decode(uri: str) -> np.ndarray:
    payload = URI.fullmatch(uri).group(1)
    with Image.open(io.BytesIO(base64.b64decode(payload))) as picture:
        return np.asarray(picture.convert("RGB"))


def _traces_in_page(page: str) -> list[dict]:
    """The data array passed to Plotly.newPlot in a written page."""
    start = re.search(r'Plotly\.newPlot\(\s*"en-tsne-plot",\s*', page).end()
    traces, _ = json.JSONDecoder().raw_decode(page[start:])
    return traces


def test_html_has_one_trace_per_class_thumbnails_labels_and_paths(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    colours = rng.integers(0, 256, size=(7, 3))
    paths = [f"/data/img_{i:03d}.png" for i in range(7)]
    names = {0: "stop", 1: "yield", 2: "no entry"}
    out = tmp_path / "tsne.html"
    figure = plot_tsne_interactive(
        rng.normal(size=(7, 5)),
        labels,
        images=_solid_images(colours),
        paths=paths,
        class_names=names,
        path=out,
        points_2d=rng.normal(size=(7, 2)),
        thumbnail_size=16,
    )
    assert [trace.name for trace in figure.data] == ["stop", "yield", "no entry"]
    assert [len(trace.x) for trace in figure.data] == [2, 2, 3]
    page = out.read_text(encoding="utf-8")
    traces = _traces_in_page(page)
    assert [trace["type"] for trace in traces] == ["scattergl"] * 3
    assert [trace["name"] for trace in traces] == list(names.values())
    page_paths = sorted(row[2] for trace in traces for row in trace["customdata"])
    assert page_paths == paths
    page_uris = [row[1] for trace in traces for row in trace["customdata"]]
    assert len(page_uris) == 7 and all(
        uri.startswith("data:image/png;base64,") for uri in page_uris
    )
    # each point's customdata in the page holds its own thumbnail: decode and compare with its colour
    for trace in traces:
        for index, uri, point_path in trace["customdata"]:
            thumb = _decode(uri)
            assert thumb.shape == (16, 16, 3)
            np.testing.assert_array_equal(thumb[8, 8], colours[index])
            assert point_path == paths[index]
    # the hover hook and the image panel are there, plotly.js is embedded for offline use
    assert 'getElementById("en-tsne-plot")' in page and "plotly_hover" in page
    assert '<img id="en-thumb"' in page
    assert out.stat().st_size > 1_000_000  # plotly.js inlined


def test_thumbnails_from_paths_and_cdn_option(tmp_path):
    files = []
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255), (0, 255, 0)]):
        file = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 20), colour).save(file)
        files.append(file)
    out = tmp_path / "cdn.html"
    figure = plot_tsne_interactive(
        np.eye(3),
        ["a", "b", "b"],
        paths=files,
        path=out,
        points_2d=np.eye(3)[:, :2],
        include_plotlyjs="cdn",
    )
    page = out.read_text()
    assert "cdn.plot.ly" in page and out.stat().st_size < 500_000
    first = figure.data[0].customdata[0]
    thumb = _decode(first[1])
    assert thumb.shape == (20, 40, 3)  # 40 px longest side is below the 64 px thumbnail size
    np.testing.assert_array_equal(thumb[5, 5], [255, 0, 0])


def test_without_images_or_paths_points_still_hover(tmp_path):
    figure = plot_tsne_interactive(
        np.random.default_rng(0).normal(size=(12, 4)),
        np.arange(12) % 3,
        perplexity=3,
        max_iter=250,
    )
    assert len(figure.data) == 3
    assert all(row[1] == "" for trace in figure.data for row in trace.customdata)
    save_interactive_html(figure, tmp_path / "plain.html", include_plotlyjs="cdn")
    assert "data:image/png;base64" not in (tmp_path / "plain.html").read_text()


def test_image_to_data_uri_handles_float_grey_and_resizes():
    grey = np.full((100, 50), 0.5, dtype=np.float32)
    thumb = _decode(image_to_data_uri(grey, size=32))
    assert thumb.shape == (32, 16, 3)
    assert abs(int(thumb[10, 10, 0]) - 128) <= 1


def test_interactive_input_errors(tmp_path):
    embeddings = np.zeros((4, 3))
    labels = [0, 1, 0, 1]
    with pytest.raises(ValueError, match="images has 3 entries but embeddings has 4"):
        plot_tsne_interactive(embeddings, labels, images=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="paths has 2 entries"):
        plot_tsne_interactive(embeddings, labels, paths=["a", "b"])
    with pytest.raises(ValueError, match="paths: cannot read image"):
        plot_tsne_interactive(embeddings, labels, paths=[tmp_path / "missing.png"] * 4)
    with pytest.raises(ValueError, match=r"images: float images must lie in \[0, 1\]"):
        plot_tsne_interactive(embeddings, labels, images=np.full((4, 8, 8, 3), 2.0))
    with pytest.raises(ValueError, match="images must have shape"):
        plot_tsne_interactive(embeddings, labels, images=np.zeros((4, 8), np.uint8))
    figure = plot_tsne_interactive(embeddings, labels, points_2d=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="path must end in .html"):
        save_interactive_html(figure, tmp_path / "x.png")
    with pytest.raises(ValueError, match="include_plotlyjs"):
        save_interactive_html(figure, tmp_path / "x.html", include_plotlyjs=False)


def test_missing_plotly_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "plotly" else real(name, *a)
    )
    with pytest.raises(ImportError, match=re.escape("pip install embedding-net[viz]")):
        plot_tsne_interactive(np.zeros((2, 2)), [0, 1])


def test_customdata_round_trips_through_json():
    figure = plot_tsne_interactive(
        np.eye(2), [0, 1], images=np.zeros((2, 4, 4), np.uint8), points_2d=np.eye(2)
    )
    data = json.loads(figure.to_json())["data"]
    assert [len(trace["customdata"]) for trace in data] == [1, 1]
