"""Real-browser test: uvicorn serves the app on 127.0.0.1, headless Chromium opens the page,
uploads a GTSRB sample image through the file input, and the rendered result grid is checked;
then the compare view and an error message. A screenshot is saved in the test's temp dir.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped with a message otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.app.chromium import Chromium, find_chromium
from tests.app.conftest import build_index, gtsrb_dir, live_server

K = 6


@pytest.fixture(scope="module")
def chromium_path():
    path = find_chromium()
    if path is None:
        pytest.skip("chromium not found on PATH: apt-get install -y chromium")
    return path


@pytest.fixture(scope="module")
def served(network_file, network, tmp_path_factory):
    """(base_url, service, gallery files) with uvicorn serving an index of GTSRB train images."""

    from embedding_net.app import create_app

    root = gtsrb_dir() / "train"
    # 4 images of each of the first 12 classes
    files = [f for c in sorted(root.iterdir())[:12] for f in sorted(c.glob("*.png"))[:4]]
    folder = tmp_path_factory.mktemp("served")
    index_file = folder / "gtsrb.npz"
    build_index(network, files, [f.parent.name for f in files]).save(index_file)
    app = create_app(
        network_file,
        index_file,
        top_k=K,
        max_map_points=20,
        map_max_iter=250,
        image_root=gtsrb_dir(),
    )
    with live_server(app) as url:
        yield url, app.state.service, files


@pytest.fixture(scope="module")
def browser(chromium_path, tmp_path_factory):
    chrome = Chromium(chromium_path, tmp_path_factory.mktemp("chromium-profile"))
    yield chrome
    chrome.close()


_GRID = """Array.from(document.querySelectorAll('#results figure.result')).map(function (card) {
  var img = card.querySelector('img');
  return {id: Number(card.dataset.id), rank: Number(card.dataset.rank),
          label: card.querySelector('.label').textContent,
          distance: card.querySelector('.distance').textContent,
          path: card.querySelector('.path').textContent,
          match: card.classList.contains('match'),
          loaded: img.complete && img.naturalWidth > 0};
})"""


@pytest.mark.slow
def test_upload_in_browser_renders_the_result_grid(served, browser, tmp_path):
    base_url, service, files = served
    query = files[9]  # class 02, an indexed file: its own nearest neighbour
    browser.navigate(base_url + "/", "document.body.dataset.ready === '1'")
    assert "match threshold" in browser.evaluate(
        "document.getElementById('threshold-note').textContent"
    )
    browser.set_files("#query-file", [str(query)])
    browser.wait_for(
        f"document.querySelectorAll('#results figure.result').length === {K} && "
        "Array.from(document.querySelectorAll('#results img')).every("
        "function (i) { return i.complete && i.naturalWidth > 0; })",
        timeout=60,
    )
    cards = browser.evaluate(_GRID)
    expected = service.search(query.read_bytes(), k=K)["results"]
    assert [c["id"] for c in cards] == [r["id"] for r in expected]
    assert [c["rank"] for c in cards] == list(range(1, K + 1))
    assert cards[0]["path"] == query.relative_to(gtsrb_dir()).as_posix() and cards[0][
        "label"
    ].endswith(query.parent.name)
    for card, result in zip(cards, expected):
        assert card["loaded"], card
        assert card["path"] == result["path"]
        assert f"{result['distance']:.4f}" in card["distance"]
        assert card["match"] == result["match"]
        assert ("no match" in card["distance"]) == (not result["match"])
    assert browser.evaluate("document.getElementById('error').hidden") is True
    shot = browser.screenshot(tmp_path / "search.png")
    with Image.open(shot) as picture:
        assert picture.size == browser.window
        pixels = np.asarray(picture.convert("RGB"))
    assert pixels.std() > 10  # not a blank page


@pytest.mark.slow
def test_compare_view_and_error_message_in_browser(served, browser, tmp_path):
    base_url, service, files = served
    browser.navigate(base_url + "/", "document.body.dataset.ready === '1'")
    browser.evaluate("document.querySelector('nav .tab[data-view=compare]').click()")
    a, b = files[0], files[30]
    browser.set_files("#compare-a-file", [str(a)])
    browser.set_files("#compare-b-file", [str(b)])
    browser.wait_for("!document.getElementById('compare-run').disabled")
    browser.evaluate("document.getElementById('compare-run').click()")
    verdict = browser.wait_for(
        "(document.querySelector('#compare-result .verdict') || {}).textContent"
    )
    expected = service.compare(a.read_bytes(), b.read_bytes())
    assert verdict.startswith("Same" if expected["same"] else "Different")
    numbers = browser.evaluate("document.querySelector('#compare-result').textContent")
    assert f"{expected['distance']:.4f}" in numbers
    browser.screenshot(tmp_path / "compare.png")
    # a file that is not an image: the page shows the server's message
    bad = tmp_path / "notes.png"
    bad.write_text("not really a picture")
    browser.evaluate("document.querySelector('nav .tab[data-view=search]').click()")
    browser.set_files("#query-file", [str(bad)])
    message = browser.wait_for(
        "!document.getElementById('error').hidden && document.getElementById('error').textContent"
    )
    assert "not an image" in message
    assert browser.evaluate("document.querySelectorAll('#results figure').length") == 0


@pytest.mark.slow
def test_drop_and_map_hover_in_browser(served, browser, tmp_path):
    base_url, service, files = served
    browser.navigate(base_url + "/", "document.body.dataset.ready === '1'")
    # drag in: a drop event carrying a File on the drop zone (the browser's own DataTransfer)
    query = files[20]
    item = files.index(query)
    browser.evaluate(
        f"""fetch('/api/items/{item}/thumbnail').then(function (r) {{ return r.blob(); }})
        .then(function (blob) {{
          var transfer = new DataTransfer();
          transfer.items.add(new File([blob], 'dropped.png', {{type: 'image/png'}}));
          var zone = document.getElementById('query-drop');
          zone.dispatchEvent(new DragEvent('dragover', {{dataTransfer: transfer, bubbles: true,
                                                         cancelable: true}}));
          zone.dispatchEvent(new DragEvent('drop', {{dataTransfer: transfer, bubbles: true,
                                                     cancelable: true}}));
          return true;
        }})"""
    )
    browser.wait_for("document.querySelectorAll('#results figure.result').length > 0")
    assert browser.evaluate("document.getElementById('query-preview').style.display") == "block"
    # the t-SNE map: hover a point with the mouse, its thumbnail appears beside the plot
    browser.navigate(
        base_url + "/map",
        "window.Plotly && !!document.getElementById('tsne-map')._fullLayout",
        timeout=120,
    )
    point = browser.evaluate(
        """(function () { var gd = document.getElementById('tsne-map');
        var t = gd._fullData[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        var s = gd._fullLayout._size, r = gd.getBoundingClientRect();
        return [r.left + s.l + xa.l2p(t.x[0]), r.top + s.t + ya.l2p(t.y[0]), t.customdata[0]];
        })()"""
    )
    x, y, custom = point
    for dx in (-4, 0):  # move onto the point
        browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x + dx, "y": y})
    src = browser.wait_for(
        "document.getElementById('thumb').complete && "
        "document.getElementById('thumb').naturalWidth > 0 && document.getElementById('thumb').src"
    )
    # plotly shows the point closest to the cursor: the hovered one, or one drawn within its
    # hover distance (overlapping points of an untrained network), never a far one
    near = browser.evaluate(
        f"""(function (x, y) {{ var gd = document.getElementById('tsne-map'), ids = [];
        var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        var s = gd._fullLayout._size, r = gd.getBoundingClientRect();
        gd._fullData.forEach(function (t) {{ for (var i = 0; i < t.x.length; i++) {{
            var px = r.left + s.l + xa.l2p(t.x[i]), py = r.top + s.t + ya.l2p(t.y[i]);
            if (Math.hypot(px - x, py - y) <= gd._fullLayout.hoverdistance + 1)
                ids.push(t.customdata[i][0]); }} }});
        return ids; }})({x:f}, {y:f})"""
    )
    assert custom[0] in near
    shown = int(src.rsplit("/api/items/", 1)[1].split("/")[0])
    assert shown in near, (shown, near)
    assert f"item {shown}" in browser.evaluate("document.getElementById('caption').textContent")
    browser.screenshot(tmp_path / "map.png")
