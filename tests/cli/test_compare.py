"""`embedding-net compare IMG1 IMG2`: cosine similarity / distance and the same/different call."""

import json

import keras
import numpy as np
import pytest

from embedding_net.cli import main
from embedding_net.data import load_images
from tests.config.tiny_run import trained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return trained_run(tmp_path_factory)


def _compare(capsys, *args):
    code = main(["compare", *args, "--json"])
    return code, (json.loads(capsys.readouterr().out) if code == 0 else None)


def test_compare_scores_match_numpy(tiny, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    same = [str(data / "val" / "c1" / "val00.png"), str(data / "val" / "c1" / "val01.png")]
    other = [str(data / "val" / "c1" / "val00.png"), str(data / "val" / "c4" / "val00.png")]
    network = keras.saving.load_model(model)
    emb = network.encode(load_images(same + other[1:], (16, 16)).images)
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    code, result = _compare(capsys, *same, "--model", model)
    assert code == 0 and result["score"] == pytest.approx(float(emb[0] @ emb[1]), abs=1e-5)
    code, result_other = _compare(capsys, *other, "--model", model)
    assert result_other["score"] == pytest.approx(float(emb[0] @ emb[2]), abs=1e-5)
    assert result["score"] > result_other["score"]
    # the decision follows the threshold
    code, high = _compare(capsys, *same, "--model", model, "--threshold", "1.01")
    code, low = _compare(capsys, *same, "--model", model, "--threshold", "-1.01")
    assert (high["same"], low["same"]) == (False, True)
    code, dist = _compare(capsys, *other, "--model", model, "--metric", "euclidean")
    assert dist["score"] == pytest.approx(float(np.linalg.norm(emb[0] - emb[2])), abs=1e-5)
    assert dist["score_name"] == "euclidean distance"


def test_compare_plain_text_and_errors(tiny, tmp_path, capsys):
    out, data = tiny
    model = str(out / "network.keras")
    image = str(data / "val" / "c0" / "val00.png")
    assert main(["compare", image, image, "--model", model]) == 0
    assert "cosine similarity: 1.0000" in capsys.readouterr().out
    assert main(["compare", image, str(tmp_path / "missing.png"), "--model", model]) == 2
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert main(["compare", image, str(tmp_path / "broken.png"), "--model", model]) == 2
    assert "cannot be decoded" in capsys.readouterr().err


def test_compare_with_a_siamese_merge_model_uses_its_probability(tiny, tmp_path, capsys):
    from embedding_net.models import BaseNetwork, SiameseModel

    _, data = tiny
    network = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))
    siamese = SiameseModel(network, head="merge")
    dummy = np.zeros((1, 16, 16, 3), np.uint8)
    siamese((dummy, dummy))
    path = tmp_path / "siamese.keras"
    siamese.save(path)
    pair = [str(data / "val" / "c0" / "val00.png"), str(data / "val" / "c3" / "val01.png")]
    images = load_images(pair, (16, 16)).images
    expected = float(siamese.predict((images[:1], images[1:]), verbose=0)[0])
    code, result = _compare(capsys, *pair, "--model", str(path), "--threshold", "0.3")
    assert code == 0 and result["score_name"] == "match probability"
    assert result["score"] == pytest.approx(expected, abs=1e-5)
    assert result["same"] == (expected >= 0.3)
