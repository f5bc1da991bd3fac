"""Export an embedding network for serving: uint8 images in, embeddings out.

The SavedModel holds the preprocessing (it is part of :class:`~embedding_net.BaseNetwork`),
so a server feeds raw ``uint8`` images ``(batch, height, width, channels)`` to the ``serve``
signature and gets the (L2-normalised, if the network normalises) float32 embeddings back.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import keras
import numpy as np

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
        format: ``"tf_saved_model"`` (input ``uint8``) or ``"onnx"`` (input float32 pixel
            values in [0, 255]; needs ``pip install embedding-net[onnx]``).
        overwrite: replace an existing ``path``; without it an existing path is an error.
        check_images: images for the parity check; default 8 random uint8 images.
        seed: seed of the random parity images.

    Returns:
        dict with ``path``, ``format`` and ``max_abs_diff`` (largest absolute difference
        between exported and in-Keras embeddings on the parity images).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format={format!r} is not one of {EXPORT_FORMATS}")
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shape = tuple(network.input_shape[1:])
    if check_images is None:
        rng = np.random.default_rng(seed)
        check_images = rng.integers(0, 256, (8, *shape), dtype=np.uint8)
    check_images = np.asarray(check_images)
    expected = np.asarray(network.predict(check_images.astype("float32"), verbose=0))

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
        got = reloaded.serve(tf.constant(check_images.astype(np.uint8))).numpy()
    else:
        missing = [
            m for m in ("onnx", "tf2onnx", "onnxruntime") if importlib.util.find_spec(m) is None
        ]
        if missing:
            raise ImportError(
                f"ONNX export needs {', '.join(missing)}: pip install embedding-net[onnx]"
            )
        import onnxruntime as ort
        import tensorflow as tf

        network.export(
            os.fspath(path),
            format="onnx",
            verbose=False,
            input_signature=[tf.TensorSpec((None, *shape), tf.float32, name="images")],
        )
        session = ort.InferenceSession(os.fspath(path))
        name = session.get_inputs()[0].name
        got = session.run(None, {name: check_images.astype(np.float32)})[0]
    return {
        "path": os.fspath(path),
        "format": format,
        "max_abs_diff": float(np.max(np.abs(np.asarray(got) - expected))),
        "num_check_images": int(len(check_images)),
    }
