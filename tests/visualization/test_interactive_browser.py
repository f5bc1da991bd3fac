"""The hover hook of the interactive page, exercised in a headless Chromium when one is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("plotly", reason="plotly is the optional 'viz' extra")

from embedding_net.visualization import plot_tsne_interactive  # noqa: E402

CHROMIUM = next(
    (
        shutil.which(name)
        for name in ("chromium", "chromium-browser", "google-chrome")
        if shutil.which(name)
    ),
    None,
)

# Moves the mouse over point `point` of trace `curve`, then writes what the panel shows into
# <pre id="probe"> so that --dump-dom can read it.
PROBE = """<script>
window.addEventListener("load", function() {
  setTimeout(function() {
    var gd = document.getElementById("en-tsne-plot");
    var layout = gd._fullLayout, trace = gd._fullData[CURVE];
    var box = gd.getBoundingClientRect();
    var x = box.left + layout._size.l + layout.xaxis.l2p(trace.x[POINT]);
    var y = box.top + layout._size.t + layout.yaxis.l2p(trace.y[POINT]);
    gd.querySelector(".nsewdrag").dispatchEvent(
      new MouseEvent("mousemove", {clientX: x, clientY: y, bubbles: true, view: window}));
    setTimeout(function() {
      var probe = document.createElement("pre");
      probe.id = "probe";
      probe.textContent = "SRC=" + document.getElementById("en-thumb").src + "\\nCAPTION=" +
        document.getElementById("en-caption").textContent + "\\nPANEL_LEFT=" +
        document.getElementById("en-panel").getBoundingClientRect().left + "\\nPLOT_RIGHT=" +
        gd.querySelector(".main-svg").getBoundingClientRect().right;
      document.body.appendChild(probe);
    }, 500);
  }, 1000);
});
</script>
"""


def hover_probe(page: str, curve: int, point: int) -> str:
    """The page with a script that hovers one point and reports what the panel shows."""
    script = PROBE.replace("CURVE", str(curve)).replace("POINT", str(point))
    return page.replace("</body>", script + "</body>")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed to run the page")
def test_hovering_a_point_shows_its_thumbnail_beside_the_plot(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 10, 10, 3)).astype(np.uint8)
    paths = [f"/images/person_{i}.jpg" for i in range(6)]
    out = tmp_path / "page.html"
    figure = plot_tsne_interactive(
        rng.normal(size=(6, 3)),
        ["a", "a", "b", "b", "b", "c"],
        images=images,
        paths=paths,
        points_2d=rng.normal(size=(6, 2)),
        path=out,
    )
    expected_index, expected_uri, expected_path = figure.data[1].customdata[2]
    probe = tmp_path / "probe.html"
    probe.write_text(
        hover_probe(out.read_text(encoding="utf-8"), curve=1, point=2), encoding="utf-8"
    )
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,800",
            "--virtual-time-budget=6000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"the page did not run its probe: {result.stderr[-2000:]}"
    report = dict(line.split("=", 1) for line in found.group(1).splitlines())
    assert report["SRC"] == expected_uri
    assert report["CAPTION"] == f"b \u2014 {expected_path}"
    assert expected_index == 4
    # the plot was laid out beside the panel, not under it
    assert float(report["PLOT_RIGHT"]) <= float(report["PANEL_LEFT"]) + 1
