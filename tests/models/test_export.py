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


@pytest.mark.parametrize(
    "backbone, shape", [("simple_cnn", (16, 16, 3)), ("resnet18", (64, 32, 3))]
)
def test_onnx_takes_uint8_and_matches_keras(tmp_path, backbone, shape):
    import onnxruntime as ort

    network = BaseNetwork(backbone, embedding_dim=8, input_shape=shape)
    report = network.export(tmp_path / "net.onnx", format="onnx")
    assert report["format"] == "onnx" and report["max_abs_diff"] < 1e-4
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape) == ("images", "tensor(uint8)", ["batch", *shape])
    assert (out.name, out.type, out.shape) == ("embeddings", "tensor(float)", ["batch", 8])
    rng = np.random.default_rng(5)
    for n in (1, 3):  # the batch dimension is dynamic
        images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        served = session.run(None, {"images": images})[0]
        np.testing.assert_allclose(served, network.encode(images), atol=1e-4)
        np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(Exception, match="(?i)type"):  # float pixels are refused: uint8 only
        session.run(None, {"images": images.astype(np.float32)})


def test_onnx_unavailable_fails_early_and_keeps_the_file(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a),
    )
    (tmp_path / "net.onnx").write_text("keep")
    with pytest.raises(ImportError, match=r"onnxruntime.*pip install embedding-net\[onnx\]"):
        export_network(net(), tmp_path / "net.onnx", format="onnx", overwrite=True)
    assert (tmp_path / "net.onnx").read_text() == "keep"
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    monkeypatch.setattr("keras.backend.backend", lambda: "jax")
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        export_network(net(), tmp_path / "net.onnx", format="onnx", overwrite=True)
    assert (tmp_path / "net.onnx").read_text() == "keep"


def test_cli_export_onnx(tmp_path, capsys):
    import onnxruntime as ort

    model_path = tmp_path / "net.keras"
    network = net()
    network.save(model_path)
    out = tmp_path / "net.onnx"
    args = ["export", "--model", str(model_path), "--output", str(out), "--format", "onnx"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "(onnx)" in printed and "parity: max |exported - keras| = " in printed
    diff = float(printed.split("= ")[1].split()[0])
    assert diff < 1e-4
    images = np.random.default_rng(7).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        session.run(None, {"images": images})[0], network.encode(images), atol=1e-4
    )
    assert main([*args, "--overwrite", "--tolerance", "-1"]) == 1  # parity above tolerance
