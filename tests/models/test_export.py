import numpy as np
import pytest

from embedding_net.cli import main
from embedding_net.export import export_network
from embedding_net.models import BaseNetwork

pytestmark = pytest.mark.skipif(
    __import__("keras").backend.backend() != "tensorflow", reason="SavedModel export: TF backend"
)


def net():
    return BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))


def test_saved_model_takes_uint8_and_matches_keras(tmp_path):
    import tensorflow as tf

    network = net()
    report = network.export(tmp_path / "sm")
    assert report["max_abs_diff"] < 1e-5
    images = np.random.default_rng(3).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))  # keep a reference to its variables
    served = loaded.serve(tf.constant(images)).numpy()
    np.testing.assert_allclose(served, network.encode(images), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(TypeError):  # the signature is uint8 images only
        loaded.serve(tf.constant(images.astype("float32")))


def test_export_refuses_to_overwrite(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_network(net(), tmp_path / "sm")
    assert (tmp_path / "sm" / "mine.txt").read_text() == "keep"
    with pytest.raises(ValueError, match="format"):
        export_network(net(), tmp_path / "x", format="tflite")


def test_cli_export(tmp_path, capsys):
    model_path = tmp_path / "net.keras"
    net().save(model_path)
    out = tmp_path / "served"
    assert main(["export", "--model", str(model_path), "--output", str(out)]) == 0
    assert "parity" in capsys.readouterr().out
    assert (out / "saved_model.pb").exists()
    assert main(["export", "--model", str(model_path), "--output", str(out)]) == 2
    assert main(["export", "--model", str(tmp_path / "missing.keras"), "--output", "x"]) == 2
