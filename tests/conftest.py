"""Shared fixtures. Real-image tests read ../shared/data (or $EMBEDDING_NET_DATA) and skip,
with a message naming the missing folder, when it is absent."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from embedding_net.data.locations import ENV_VAR, data_root  # noqa: E402


def _require(*parts: str):
    path = data_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set {ENV_VAR} to ../shared/data)")
    return path


@pytest.fixture
def shared_data():
    """Callable fixture: ``shared_data("sample", "reid_cuhk03")`` -> Path, or skip when absent."""
    return _require


@pytest.fixture(autouse=True)
def _keras_seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session(free_memory=False)  # gc.collect() would cost ~1 s a test
