import json

import numpy as np
from PIL import Image

from embedding_net.cli import main
from embedding_net.demo import load_digits_images


def test_digits_images_are_uint8_and_split_per_class():
    x_train, y_train, x_test, y_test = load_digits_images(seed=0)
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (16, 16, 1)
    assert len(x_train) + len(x_test) == 1797
    assert set(np.unique(y_train)) == set(np.unique(y_test)) == set(range(10))
    assert x_train.max() == 255


def test_demo_improves_and_writes_pictures(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--epochs", "8"]) == 0
    printed = capsys.readouterr().out
    assert "kNN top-1" in printed and str(out) in printed
    metrics = json.loads((out / "metrics.json").read_text())
    before, after = metrics["before"], metrics["after"]
    assert after["knn_top1"] > before["knn_top1"] + 0.02, metrics
    assert after["recall_at_1"] > before["recall_at_1"] + 0.02, metrics
    assert after["knn_top1"] > 0.9
    for name in ("tsne.png", "retrieval.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 200 and np.asarray(image).std() > 0
    html = (out / "tsne.html").read_text()
    assert "data:image/png;base64" in html
    assert (out / "digits_network.keras").stat().st_size > 0


def test_demo_refuses_non_empty_output(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("user data")
    assert main(["demo", "--output", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "user data"
