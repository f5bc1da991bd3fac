"""The app's pages, kept as Python strings (no template engine, no package data files).

The search page is one static HTML document with a small script; everything it shows comes
from the JSON endpoints (``/api/info``, ``/api/search``, ``/api/compare``, thumbnails by item id),
and every label or path is inserted as text (``textContent``), never as HTML.
"""

from __future__ import annotations

import html
import json

SEARCH_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>embedding_net: search by image</title>
<style>
:root { --accent: #2563eb; --ok: #15803d; --bad: #b91c1c; --line: #d4d4d8; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; color: #18181b; background: #fafafa; }
header { display: flex; align-items: center; gap: 16px; padding: 10px 18px;
  background: #fff; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
nav button { font: inherit; border: 1px solid var(--line); background: #fff; padding: 5px 12px;
  border-radius: 6px; cursor: pointer; }
nav button.active { background: var(--accent); color: #fff; border-color: var(--accent); }
#info { font-size: 12px; color: #52525b; margin-left: auto; }
main { padding: 16px 18px; }
#error { background: #fee2e2; color: var(--bad); border: 1px solid #fecaca; padding: 8px 12px;
  border-radius: 6px; margin: 0 18px; margin-top: 12px; }
.drop { border: 2px dashed #a1a1aa; border-radius: 10px; padding: 14px; background: #fff;
  display: flex; align-items: center; gap: 14px; min-height: 120px; }
.drop.over { border-color: var(--accent); background: #eff6ff; }
.drop img { height: 100px; width: auto; max-width: 200px; object-fit: contain;
  image-rendering: pixelated; display: none; border: 1px solid var(--line); }
.drop label { color: var(--accent); text-decoration: underline; cursor: pointer; }
.drop input[type=file] { display: none; }
.controls { display: flex; gap: 18px; align-items: center; margin: 12px 0; flex-wrap: wrap; }
.note { font-size: 14px; color: #3f3f46; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.result { margin: 0; background: #fff; border: 2px solid var(--line); border-radius: 8px;
  padding: 8px; font-size: 13px; }
.result.match { border-color: var(--ok); }
.result img { width: 100%; aspect-ratio: 1; object-fit: contain; image-rendering: pixelated;
  background: #f4f4f5; }
.result .label { font-weight: 600; }
.result .path { color: #71717a; font-size: 11px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.badge { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 9px;
  color: #fff; background: #71717a; }
.badge.match { background: var(--ok); }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
#compare-result { font-size: 16px; margin-top: 12px; }
#compare-result .verdict { font-weight: 700; }
#compare-result .verdict.same { color: var(--ok); }
#compare-result .verdict.different { color: var(--bad); }
#map-frame { width: 100%; height: 80vh; border: 1px solid var(--line); background: #fff; }
button.run { font: inherit; padding: 6px 16px; border-radius: 6px; border: none;
  background: var(--accent); color: #fff; cursor: pointer; }
button.run:disabled { background: #a1a1aa; cursor: default; }
</style>
</head>
<body>
<header>
  <h1>embedding_net</h1>
  <nav>
    <button type="button" class="tab active" data-view="search">Search</button>
    <button type="button" class="tab" data-view="compare">Compare two images</button>
    <button type="button" class="tab" data-view="map">t-SNE map</button>
  </nav>
  <div id="info">loading&hellip;</div>
</header>
<div id="error" role="alert" hidden></div>
<main>
<section id="view-search">
  <div class="drop" id="query-drop">
    <input type="file" id="query-file" accept="image/*">
    <img id="query-preview" alt="query image">
    <p>Drop a query image here or <label for="query-file">choose a file</label>.</p>
  </div>
  <div class="controls">
    <label>results (k) <input type="number" id="k" min="1" value="5" style="width: 5em"></label>
    <span class="note" id="threshold-note"></span>
    <span class="note" id="search-status"></span>
  </div>
  <div id="results" class="grid" aria-live="polite"></div>
</section>
<section id="view-compare" hidden>
  <div class="pair">
    <div class="drop" id="compare-a-drop">
      <input type="file" id="compare-a-file" accept="image/*">
      <img id="compare-a-preview" alt="first image">
      <p>First image: drop or <label for="compare-a-file">choose</label>.</p>
    </div>
    <div class="drop" id="compare-b-drop">
      <input type="file" id="compare-b-file" accept="image/*">
      <img id="compare-b-preview" alt="second image">
      <p>Second image: drop or <label for="compare-b-file">choose</label>.</p>
    </div>
  </div>
  <div class="controls"><button type="button" class="run" id="compare-run" disabled>Compare
  </button><span class="note" id="compare-threshold-note"></span></div>
  <div id="compare-result"></div>
</section>
<section id="view-map" hidden>
  <p class="note">Each point is an indexed image; hover a point to see its thumbnail.
  The map is computed once, on first opening (t-SNE takes a few seconds).</p>
  <iframe id="map-frame" title="t-SNE map of the index"></iframe>
</section>
</main>
<script>
(function () {
  "use strict";
  var info = null;
  var files = { query: null, a: null, b: null };
  function $(id) { return document.getElementById(id); }
  function showError(message) {
    var box = $("error");
    if (message) { box.textContent = message; box.hidden = false; }
    else { box.textContent = ""; box.hidden = true; }
  }
  function detailOf(body, response) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) {
      return body.detail.map(function (d) {
        return (d.loc || []).join(".") + ": " + d.msg;
      }).join("; ");
    }
    return "request failed: HTTP " + response.status;
  }
  function postForm(url, form) {
    return fetch(url, { method: "POST", body: form }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) throw new Error(detailOf(body, response));
        return body;
      });
    });
  }
  function fmt(x) { return (x === null || x === undefined) ? "n/a" : Number(x).toFixed(4); }
  function thresholdText() {
    if (!info || info.threshold === null) return "no match threshold (index has no labels)";
    return "match threshold: " + info.distance +
      (info.higher_is_closer ? " similarity \\u2265 " : " distance \\u2264 ") + fmt(info.threshold) +
      " (" + info.threshold_source + ")";
  }
  function preview(img, file) {
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(file);
    img.src = img.dataset.url;
    img.style.display = "block";
  }
  function setupDrop(zoneId, inputId, onFile) {
    var zone = $(zoneId), input = $(inputId);
    input.addEventListener("change", function () {
      if (input.files && input.files.length) onFile(input.files[0]);
    });
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault(); zone.classList.remove("over");
      if (e.dataTransfer.files && e.dataTransfer.files.length) onFile(e.dataTransfer.files[0]);
    });
  }
  function renderResults(body) {
    var grid = $("results");
    grid.textContent = "";
    body.results.forEach(function (r) {
      var card = document.createElement("figure");
      card.className = "result" + (r.match ? " match" : "");
      card.dataset.id = r.id; card.dataset.rank = r.rank;
      var img = document.createElement("img");
      img.alt = "item " + r.id; img.loading = "lazy";
      img.onerror = function () { img.style.visibility = "hidden"; };  // file not found: 404
      img.src = r.thumbnail_url;
      var cap = document.createElement("figcaption");
      var label = document.createElement("div");
      label.className = "label";
      label.textContent = "#" + r.rank + "  " + (r.label === null ? "item " + r.id : r.label) +
        (r.name ? " \u2014 " + r.name : "");
      var dist = document.createElement("div");
      dist.className = "distance";
      dist.textContent = (info && info.higher_is_closer ? "similarity " : "distance ") +
        fmt(r.score) + " ";
      if (r.match !== null) {
        var badge = document.createElement("span");
        badge.className = "badge" + (r.match ? " match" : "");
        badge.textContent = r.match ? "match" : "no match";
        dist.appendChild(badge);
      }
      var path = document.createElement("div");
      path.className = "path";
      path.textContent = r.path || "";
      path.title = r.path || "";
      cap.appendChild(label); cap.appendChild(dist); cap.appendChild(path);
      card.appendChild(img); card.appendChild(cap);
      grid.appendChild(card);
    });
    $("search-status").textContent = body.results.length + " nearest of " + info.index_size;
  }
  function runSearch() {
    if (!files.query) return;
    showError(null);
    $("search-status").textContent = "searching\\u2026";
    var form = new FormData();
    form.append("image", files.query, files.query.name || "query");
    postForm("/api/search?k=" + encodeURIComponent($("k").value), form)
      .then(renderResults)
      .catch(function (err) {
        $("results").textContent = ""; $("search-status").textContent = "";
        showError(err.message);
      });
  }
  function runCompare() {
    if (!files.a || !files.b) return;
    showError(null);
    var form = new FormData();
    form.append("image_a", files.a, files.a.name || "a");
    form.append("image_b", files.b, files.b.name || "b");
    var out = $("compare-result");
    out.textContent = "comparing\\u2026";
    postForm("/api/compare", form).then(function (body) {
      out.textContent = "";
      var verdict = document.createElement("div");
      verdict.className = "verdict" + (body.same === null ? "" : body.same ? " same" : " different");
      verdict.textContent = body.same === null ? "no threshold set" :
        (body.same ? "Same" : "Different") + " (threshold " + fmt(body.threshold) + ")";
      var numbers = document.createElement("div");
      numbers.textContent = body.distance_metric + (body.distance === body.score ? " distance " : " similarity ") +
        fmt(body.score) +
        ", cosine similarity " + fmt(body.cosine_similarity);
      out.appendChild(verdict); out.appendChild(numbers);
    }).catch(function (err) { out.textContent = ""; showError(err.message); });
  }
  function updateCompareButton() { $("compare-run").disabled = !(files.a && files.b); }
  setupDrop("query-drop", "query-file", function (f) {
    files.query = f; preview($("query-preview"), f); runSearch();
  });
  setupDrop("compare-a-drop", "compare-a-file", function (f) {
    files.a = f; preview($("compare-a-preview"), f); updateCompareButton();
  });
  setupDrop("compare-b-drop", "compare-b-file", function (f) {
    files.b = f; preview($("compare-b-preview"), f); updateCompareButton();
  });
  $("compare-run").addEventListener("click", runCompare);
  $("k").addEventListener("change", runSearch);
  Array.prototype.forEach.call(document.querySelectorAll("nav .tab"), function (tab) {
    tab.addEventListener("click", function () {
      var view = tab.dataset.view;
      Array.prototype.forEach.call(document.querySelectorAll("nav .tab"), function (t) {
        t.classList.toggle("active", t === tab);
      });
      ["search", "compare", "map"].forEach(function (v) { $("view-" + v).hidden = v !== view; });
      if (view === "map" && !$("map-frame").src) $("map-frame").src = "/map";
    });
  });
  fetch("/api/info").then(function (r) { return r.json(); }).then(function (body) {
    info = body;
    $("info").textContent = body.index_size + " items, " + body.embedding_dim + "-d " +
      body.distance + ", model " + body.model;
    $("k").value = body.top_k; $("k").max = body.max_k;
    $("threshold-note").textContent = thresholdText();
    $("compare-threshold-note").textContent = thresholdText();
    document.body.dataset.ready = "1";
  }).catch(function (err) { showError("cannot read /api/info: " + err.message); });
})();
</script>
</body>
</html>
"""

_MAP_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 6px; }}
#layout {{ display: flex; align-items: flex-start; gap: 12px; }}
#plot {{ flex: 1 1 0; min-width: 0; }}
#panel {{ flex: 0 0 200px; order: 2; position: sticky; top: 6px; font-size: 13px;
  word-break: break-all; }}
#thumb {{ width: 192px; image-rendering: pixelated; border: 1px solid #ccc; display: none; }}
</style></head>
<body>
<!-- the panel comes first in the document (shown on the right with CSS order), so that it is
laid out before plotly measures the plot's width -->
<div id="layout">
<div id="panel"><img id="thumb" alt="hovered image"><div id="caption">{note}
Hover a point to see its image.</div></div>
<div id="plot">{plot}</div>
</div>
<script>
(function () {{
  var plot = document.getElementById({div_id});
  var img = document.getElementById("thumb");
  var caption = document.getElementById("caption");
  function show(event) {{
    var data = event.points[0].customdata;
    if (!data) return;
    if (data[1]) {{ img.src = data[1]; img.style.display = "block"; }}
    caption.textContent = event.points[0].data.name + " \\u2014 item " + data[0] +
      (data[2] ? " \\u2014 " + data[2] : "");
  }}
  function attach() {{
    if (plot && plot.on) {{ plot.on("plotly_hover", show); plot.on("plotly_click", show); }}
    else {{ setTimeout(attach, 100); }}
  }}
  attach();
}})();
</script>
</body>
</html>
"""

PLOTLY_JS_URL = "/static/plotly.min.js"


def map_page(points: dict, has_thumbnails: bool) -> str:
    """The t-SNE map page: D's interactive plot with thumbnails fetched by item id on hover.

    Args:
        points: :meth:`SearchService.tsne_map` output.
        has_thumbnails: the index stores paths (thumbnails can be served).

    Returns:
        the HTML page (plotly.js loaded from :data:`PLOTLY_JS_URL`).
    """
    import numpy as np

    from embedding_net.visualization.interactive import plot_tsne_interactive

    ids = points["ids"]
    labels = points["labels"]
    if any(label is None for label in labels):
        labels = ["item"] * len(ids)
    names = points.get("names") or [None] * len(ids)
    labels = np.asarray(
        [str(v) if n is None else f"{v} {n}" for v, n in zip(labels, names)], dtype=str
    )
    coords = np.stack([points["x"], points["y"]], axis=1).astype(np.float32)
    shown = len(ids)
    title = f"t-SNE of {shown} indexed item(s)" + (
        f" (seeded random subset of {points['total']})" if shown < points["total"] else ""
    )
    figure = plot_tsne_interactive(
        np.zeros((shown, 1), np.float32), labels, points_2d=coords, title=title
    )
    for trace in figure.data:
        rows = []
        for row in trace.customdata:
            item_id = ids[int(row[0])]
            path = points["paths"][int(row[0])] or ""
            url = f"/api/items/{item_id}/thumbnail" if has_thumbnails else ""
            rows.append([item_id, url, path])
        trace.customdata = rows
        trace.hovertemplate = "<b>%{fullData.name}</b><br>item %{customdata[0]}<extra></extra>"
    div_id = "tsne-map"
    plot = figure.to_html(
        full_html=False,
        include_plotlyjs=PLOTLY_JS_URL,
        div_id=div_id,
        config={"responsive": True},
    )
    note = "" if has_thumbnails else "This index stores no image paths: no thumbnails. "
    return _MAP_PAGE.format(
        title=html.escape(title), plot=plot, div_id=json.dumps(div_id), note=html.escape(note)
    )


def plotly_js_path():
    """Path of the plotly.js bundle shipped inside the ``plotly`` package (served offline)."""
    from pathlib import Path

    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
