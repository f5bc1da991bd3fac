"""Fixtures for the web app tests: a tiny saved network and an index over images the test writes
(always available) or over the GTSRB sample (skipped when the shared data is absent)."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web app needs: pip install 'embedding-net[app]'")
pytest.importorskip("multipart", reason="the web app needs: pip install 'embedding-net[app]'")

from embedding_net.data.locations import ENV_VAR, data_root  # noqa: E402

with warnings.catch_warnings():  # starlette's notice about httpx, shown once at import
    warnings.simplefilter("ignore")
    import fastapi.testclient  # noqa: E402, F401

IMAGE_SHAPE = (32, 32, 3)
EMBEDDING_DIM = 8
# four colour classes, written as PNG and JPEG
CLASS_COLOURS = {
    "red": (200, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 60, 200),
    "grey": (128,) * 3,
}


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def write_gallery(root: Path, per_class: int = 6, seed: int = 0) -> list[Path]:
    """Class folders of noisy colour squares with a random bar; returns the written files."""
    rng = np.random.default_rng(seed)
    files = []
    for name, colour in CLASS_COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            size = int(rng.integers(24, 48))
            image = np.clip(
                np.asarray(colour)[None, None] + rng.normal(0, 25, (size, size, 3)), 0, 255
            ).astype(np.uint8)
            row = int(rng.integers(0, size - 4))
            image[row : row + 4] = 255 - image[row : row + 4]
            fmt, ext = ("JPEG", "jpg") if i % 2 else ("PNG", "png")
            path = folder / f"{i:02d}.{ext}"
            path.write_bytes(png_bytes(image, fmt))
            files.append(path)
    return files


def build_index(network, paths, labels, distance="euclidean"):
    """Index built the way `embedding-net encode` builds one: load_images -> network -> add."""
    from embedding_net.data import load_images
    from embedding_net.evaluation.index import EmbeddingIndex

    loaded = load_images([str(p) for p in paths], image_size=IMAGE_SHAPE[:2])
    assert len(loaded.kept) == len(paths)
    index = EmbeddingIndex(distance=distance)
    index.add(network.encode(loaded.images), labels=labels, paths=[str(p) for p in paths])
    return index


@pytest.fixture(autouse=True)
def _keras_seed():
    """Overrides the suite-wide fixture: seed, but no ``clear_session`` after every test.

    These tests build their network once per session (fixtures below) and only call it; the
    suite's per-test ``clear_session`` (about 1 s each here) would buy nothing.
    """
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def network_file(tmp_path_factory):
    from embedding_net import BaseNetwork

    path = tmp_path_factory.mktemp("model") / "net.keras"
    BaseNetwork("simple_cnn", embedding_dim=EMBEDDING_DIM, input_shape=IMAGE_SHAPE).save(path)
    return path


@pytest.fixture(scope="session")
def network(network_file):
    from embedding_net.app.service import load_network

    return load_network(network_file)


@pytest.fixture(scope="session")
def gallery(tmp_path_factory, network):
    """(index_file, index, image_files) over the synthetic class folders."""
    root = tmp_path_factory.mktemp("gallery")
    files = write_gallery(root)
    index = build_index(network, files, [p.parent.name for p in files])
    index_file = root / "gallery.npz"
    index.save(index_file)
    return index_file, index, files


def gtsrb_dir() -> Path:
    path = data_root() / "sample" / "traffic_signs_gtsrb"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set {ENV_VAR} to ../shared/data)")
    return path


@contextlib.contextmanager
def live_server(app, **config):
    """Serve ``app`` on a free 127.0.0.1 port with ``embedding-net serve``'s uvicorn settings
    (:func:`embedding_net.app.server.server_config`) in a thread; yields the base URL."""
    import uvicorn

    from embedding_net.app.server import server_config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn takes it over
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, port=port, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
