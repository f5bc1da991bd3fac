"""Interactive t-SNE (plotly) whose points show their image thumbnail on hover.

Plotly's hover labels cannot show images, so each point carries its thumbnail as a base64 PNG
data URI in ``customdata``; :func:`save_interactive_html` writes a standalone page with a small
script that shows the thumbnail of the hovered point in an ``<img>`` beside the plot.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.atomic import write_text_atomic
from embedding_net.visualization.inputs import (
    check_embeddings,
    check_images,
    check_vector,
    require_plotly,
)
from embedding_net.visualization.tsne import class_index, class_styles, projection_2d

_PLOTLY_MARKERS = {
    "o": "circle",
    "s": "square",
    "^": "triangle-up",
    "D": "diamond",
    "v": "triangle-down",
    "P": "cross",
    "X": "x",
    "*": "star",
    "<": "triangle-left",
    ">": "triangle-right",
}

_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 8px; }}
#en-layout {{ display: flex; align-items: flex-start; gap: 12px; }}
#en-plot {{ flex: 1 1 auto; min-width: 0; order: 1; }}
#en-panel {{ flex: 0 0 {panel}px; position: sticky; top: 8px; order: 2; }}
#en-thumb {{ width: {panel}px; image-rendering: pixelated; border: 1px solid #ccc;
  display: none; }}
#en-caption {{ font-size: 13px; word-break: break-all; margin-top: 4px; }}
</style></head>
<body>
<div id="en-layout">
<div id="en-panel"><img id="en-thumb" alt="hovered image"><div id="en-caption">
Hover a point to see its image.</div></div>
<div id="en-plot">{plot}</div>
</div>
<script>
(function() {{
  var plot = document.getElementById({div_id});
  var img = document.getElementById("en-thumb");
  var caption = document.getElementById("en-caption");
  function show(event) {{
    var point = event.points[0];
    var data = point.customdata;
    if (!data) return;
    if (data[1]) {{ img.src = data[1]; img.style.display = "block"; }}
    else {{ img.style.display = "none"; }}
    caption.textContent = point.data.name + (data[2] ? " \\u2014 " + data[2] : "");
  }}
  function attach() {{
    if (plot && plot.on) {{
      plot.on("plotly_hover", show);
      plot.on("plotly_click", show);
      Plotly.Plots.resize(plot);  // fit the plot beside the panel
    }}
    else {{ setTimeout(attach, 100); }}
  }}
  attach();
}})();
</script>
</body>
</html>
"""


def image_to_data_uri(image: np.ndarray, size: int | None = 64) -> str:
    """Encode one image as a ``data:image/png;base64,...`` URI.

    Args:
        image: float array (h, w, 3) in [0, 1] (as returned by the input checks) or uint8.
        size: longest side of the thumbnail in pixels, or None to keep the image size.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    picture = Image.fromarray(array)
    if size is not None and max(picture.size) > size:
        picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnails_from_paths(paths: Sequence[str], size: int) -> list[str]:
    from PIL import Image

    uris = []
    for path in paths:
        try:
            with Image.open(path) as picture:
                picture = picture.convert("RGB")
                picture.thumbnail((size, size))
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG", optimize=True)
        except OSError as error:
            raise ValueError(f"paths: cannot read image {str(path)!r}: {error}") from error
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return uris


def plot_tsne_interactive(
    embeddings: Any,
    labels: Any,
    images: Any = None,
    paths: Sequence[str | Path] | None = None,
    class_names: Sequence[str] | dict | None = None,
    path: str | Path | None = None,
    perplexity: float = 30,
    seed: int = 0,
    pca_components: int | None = 50,
    points_2d: Any = None,
    thumbnail_size: int = 64,
    title: str | None = None,
    include_plotlyjs: bool | str = True,
    max_iter: int = 1000,
    num_threads: int | None = 1,
):
    """Interactive t-SNE scatter: one trace (legend entry) per class; hover shows label, path, image.

    Args:
        embeddings: float array or tensor (N, D).
        labels: array (N,) of class ids.
        images: optional images (N, h, w), (N, h, w, 1|3), uint8 or float in [0, 1], turned into
            thumbnails. When None but ``paths`` is given, thumbnails are read from the files.
        paths: optional file path of each point (N,), shown on hover.
        class_names: sequence indexed by label or dict label -> name.
        path: when given, a standalone HTML page is written there (see
            :func:`save_interactive_html`).
        perplexity, seed, pca_components, max_iter, num_threads: passed to :func:`tsne_embed`.
        points_2d: a precomputed (N, 2) projection to use instead of running t-SNE.
        thumbnail_size: longest side of the thumbnails in pixels.
        title: figure title.
        include_plotlyjs: True embeds plotly.js (works offline, ~4 MB); "cdn" links it.

    Returns:
        plotly ``graph_objects.Figure``; each point's ``customdata`` is
        ``[index, thumbnail_data_uri_or_empty, path_or_empty]``.

    Raises:
        ImportError: plotly is not installed (``pip install embedding-net[viz]``).
        ValueError: bad shapes, mismatched lengths, empty or NaN inputs, unreadable paths.
    """
    go = require_plotly()
    points = check_embeddings(embeddings)
    num_points = points.shape[0]
    labels = check_vector(labels, "labels", num_points, "embeddings")
    paths = _check_paths(paths, num_points)
    thumbnails = _thumbnails(images, paths, num_points, thumbnail_size)
    points_2d = projection_2d(
        points, points_2d, perplexity, seed, pca_components, max_iter, num_threads
    )
    index, names = class_index(labels, class_names)
    figure = go.Figure()
    for cls, (name, (colour, marker)) in enumerate(zip(names, class_styles(len(names)))):
        members = np.flatnonzero(index == cls)
        figure.add_trace(
            _class_trace(go, points_2d, members, name, colour, marker, thumbnails, paths)
        )
    figure.update_layout(
        title=title if title is not None else f"t-SNE of {num_points} embeddings",
        template="plotly_white",
        legend={"title": {"text": f"{len(names)} classes"}, "itemsizing": "constant"},
        xaxis={"showticklabels": False},
        yaxis={"showticklabels": False, "scaleanchor": "x"},
        height=700,
        margin={"l": 20, "r": 20, "t": 50, "b": 20},
    )
    if path is not None:
        save_interactive_html(
            figure, path, include_plotlyjs=include_plotlyjs, panel_size=thumbnail_size * 3
        )
    return figure


def _check_paths(paths: Sequence[str | Path] | None, num_points: int) -> list[str] | None:
    """Return ``paths`` as a list of N strings (or None), checking its length against N."""
    if paths is None:
        return None
    paths = [str(p) for p in paths]
    if len(paths) != num_points:
        raise ValueError(
            f"paths has {len(paths)} entries but embeddings has {num_points}: lengths must match"
        )
    return paths


def _thumbnails(
    images: Any, paths: list[str] | None, num_points: int, thumbnail_size: int
) -> list[str]:
    """Thumbnail data URI of each point (N,): from ``images``, else from ``paths``, else empty."""
    if thumbnail_size < 4:
        raise ValueError(f"thumbnail_size must be >= 4 pixels, got {thumbnail_size}")
    if images is not None:
        pictures = check_images(images, "images")
        if pictures.shape[0] != num_points:
            raise ValueError(
                f"images has {pictures.shape[0]} entries but embeddings has {num_points}: "
                "lengths must match"
            )
        return [image_to_data_uri(p, thumbnail_size) for p in pictures]
    if paths is not None:
        return _thumbnails_from_paths(paths, thumbnail_size)
    return [""] * num_points


def _class_trace(go, points_2d, members, name, colour, marker, thumbnails, paths):
    """One ``Scattergl`` trace for the points ``members`` (indices into ``points_2d`` (N, 2))."""
    rgb = "rgb({:.0f},{:.0f},{:.0f})".format(*(255 * np.asarray(colour[:3])))
    custom = [[int(i), thumbnails[i], paths[i] if paths is not None else ""] for i in members]
    hover = "<b>%{fullData.name}</b><br>index %{customdata[0]}"
    if paths is not None:
        hover += "<br>%{customdata[2]}"
    return go.Scattergl(
        x=points_2d[members, 0],
        y=points_2d[members, 1],
        mode="markers",
        name=name,
        marker={
            "color": rgb,
            "symbol": _PLOTLY_MARKERS[marker],
            "size": 7,
            "line": {"width": 0.5, "color": "rgb(70,70,70)"},
        },
        customdata=custom,
        hovertemplate=hover + "<extra></extra>",
    )


def save_interactive_html(
    figure,
    path: str | Path,
    include_plotlyjs: bool | str = True,
    panel_size: int = 192,
) -> Path:
    """Write ``figure`` as a standalone HTML page with a hover thumbnail panel beside the plot.

    The page reads each point's thumbnail from ``customdata[1]`` (as set by
    :func:`plot_tsne_interactive`) and shows it, with the class name and path, when the point is
    hovered or clicked.

    Args:
        figure: plotly Figure.
        path: output ``.html`` file.
        include_plotlyjs: True embeds plotly.js (offline use), "cdn" links it from the CDN.
        panel_size: width in pixels of the thumbnail panel.

    Returns:
        The written path.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"path must end in .html, got {str(path)!r}")
    if include_plotlyjs not in (True, "cdn"):
        raise ValueError(f"include_plotlyjs must be True or 'cdn', got {include_plotlyjs!r}")
    div_id = "en-tsne-plot"
    plot = figure.to_html(
        full_html=False,
        include_plotlyjs=include_plotlyjs,
        div_id=div_id,
        config={"responsive": True},
    )
    title = figure.layout.title.text or "embedding_net interactive plot"
    page = _PAGE.format(
        title=html.escape(str(title)), plot=plot, div_id=json.dumps(div_id), panel=int(panel_size)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page)
    return path
