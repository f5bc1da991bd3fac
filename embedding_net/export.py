"""Export an embedding network for serving: uint8 images in, embeddings out.

The exported graph holds the preprocessing (it is part of :class:`~embedding_net.BaseNetwork`),
so a server feeds raw ``uint8`` images ``(batch, height, width, channels)`` to the SavedModel's
``serve`` signature, or to the ONNX graph's ``images`` input (onnxruntime), and gets the
(L2-normalised, if the network normalises) float32 embeddings back.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import keras
import numpy as np

from embedding_net.atomic import atomic_path

EXPORT_FORMATS = ("tf_saved_model", "onnx")


def export_network(
    network,
    path: str | os.PathLike,
    format: str = "tf_saved_model",
    overwrite: bool = False,
    check_images=None,
    seed: int = 0,
) -> dict:
    """Export ``network`` and check the exported embeddings against the Keras ones.

    Args:
        network: a built :class:`~embedding_net.BaseNetwork` (or a Keras model with
            ``image_shape``-like ``input_shape``).
        path: output folder (SavedModel) or ``.onnx`` file.
        format: ``"tf_saved_model"`` (a ``serve`` endpoint) or ``"onnx"`` (one graph with
            input ``images`` and output ``embeddings``; needs ``pip install
            embedding-net[onnx]``). Both take ``uint8`` images ``(batch, height, width,
            channels)``, any batch size.
        overwrite: replace an existing ``path``; without it an existing path is an error.
        check_images: images for the parity check; default 8 random uint8 images.
        seed: seed of the random parity images.

    Returns:
        dict with ``path``, ``format`` and ``max_abs_diff`` (largest absolute difference
        between exported and in-Keras embeddings on the parity images).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format={format!r} is not one of {EXPORT_FORMATS}")
    if format == "onnx":
        _check_onnx_support()
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    shape = tuple(network.input_shape[1:])
    if check_images is None:
        rng = np.random.default_rng(seed)
        check_images = rng.integers(0, 256, (8, *shape), dtype=np.uint8)
    check_images = np.asarray(check_images)
    expected = np.asarray(network.predict(check_images.astype("float32"), verbose=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    # written and checked under a temporary name, renamed to ``path`` (replacing an earlier
    # export) only once complete
    with atomic_path(path) as tmp:
        got = _export_checked(network, tmp, format, shape, check_images)
    return {
        "path": os.fspath(path),
        "format": format,
        "max_abs_diff": float(np.max(np.abs(np.asarray(got) - expected))),
        "num_check_images": int(len(check_images)),
    }


def _export_checked(network, path: Path, format: str, shape: tuple, check_images) -> np.ndarray:
    """Write the export to ``path``; the embeddings of ``check_images`` it computes."""
    if format == "tf_saved_model":
        import tensorflow as tf

        archive = keras.export.ExportArchive()
        archive.track(network)

        def serve(images):
            return network(keras.ops.cast(images, "float32"), training=False)

        archive.add_endpoint(
            name="serve",
            fn=serve,
            input_signature=[tf.TensorSpec((None, *shape), tf.uint8, name="images")],
        )
        archive.write_out(os.fspath(path), verbose=False)
        reloaded = tf.saved_model.load(os.fspath(path))
        return reloaded.serve(tf.constant(check_images.astype(np.uint8))).numpy()
    return _export_onnx(network, path, shape, check_images)


ONNX_PACKAGES = ("onnx", "tf2onnx", "onnxruntime")


def _check_onnx_support() -> None:
    """Fail before touching any file when ONNX export cannot run here."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"format='onnx' runs on the tensorflow backend (tf2onnx), not on "
            f"KERAS_BACKEND={keras.backend.backend()} (Keras would need jax2onnx, which this "
            "project neither installs nor tests): save the network and export the .keras file "
            "with KERAS_BACKEND=tensorflow"
        )
    missing = [m for m in ONNX_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"format='onnx' needs {', '.join(missing)}: pip install embedding-net[onnx]"
        )


def _export_onnx(network, path: Path, shape: tuple, check_images: np.ndarray) -> np.ndarray:
    """Write ``network`` as ONNX (``uint8`` input ``images`` with a dynamic ``batch``
    dimension, float32 output ``embeddings``) and return its embeddings of ``check_images``
    computed by onnxruntime."""
    import onnx
    import onnxruntime as ort
    import tensorflow as tf

    # Keras' exporter traces the model with this signature and converts the trace with
    # tf2onnx. The network casts its input to float inside (ImagePreprocessing), so uint8
    # images go straight in.
    keras.Model.export(
        network,
        os.fspath(path),
        format="onnx",
        verbose=False,
        input_signature=[tf.TensorSpec((None, *shape), tf.uint8, name="images")],
    )
    model = onnx.load(os.fspath(path))
    _name_onnx_io(model.graph, output_name="embeddings", batch_name="batch")
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))

    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": check_images.astype(np.uint8)})[0]


def _name_onnx_io(graph, output_name: str, batch_name: str) -> None:
    """Give the converter's generated names (``Identity:0``, ``unk__12``) readable ones."""
    if len(graph.output) != 1:
        raise ValueError(f"expected one ONNX output (the embeddings), got {len(graph.output)}")
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [output_name if o == old else o for o in node.output]
        node.input[:] = [output_name if i == old else i for i in node.input]
    graph.output[0].name = output_name
    for value in (*graph.input, *graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.dim_param = batch_name
