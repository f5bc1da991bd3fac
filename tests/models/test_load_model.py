"""embedding_net.load_model: a .keras file loads in a fresh process after ``import embedding_net``."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedding_net
from embedding_net.models import BaseNetwork, TripletModel
from embedding_net.saving import REGISTERING_MODULES

PACKAGE = Path(embedding_net.__file__).parent

FRESH = """
import sys, numpy as np
import embedding_net as en
model = en.load_model(sys.argv[1])
print(type(model).__name__)
images = np.load(sys.argv[2])
net = getattr(model, "network", model)
np.save(sys.argv[3], net.encode(images))
"""


def _fresh_process(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", FRESH, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_saved_network_and_triplet_model_load_in_a_fresh_process(tmp_path):
    network = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))
    triplets = TripletModel(network, margin=0.3)
    triplets.compile(optimizer="adam")
    network.save(tmp_path / "network.keras")
    triplets.save(tmp_path / "triplets.keras")
    images = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3)).astype(np.uint8)
    np.save(tmp_path / "images.npy", images)
    expected = network.encode(images)
    for name, cls in (("network", "BaseNetwork"), ("triplets", "TripletModel")):
        done = _fresh_process(
            tmp_path / f"{name}.keras", tmp_path / "images.npy", tmp_path / "e.npy"
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split()[-1] == cls
        np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, atol=1e-5)


def test_every_module_that_registers_a_class_is_imported_by_register_all():
    """A new registered class in a module register_all() does not reach would fail to load."""
    registering = set()
    for path in PACKAGE.rglob("*.py"):
        if "register_keras_serializable" in path.read_text():
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            registering.add(".".join(parts).removesuffix(".__init__"))
    assert registering, "no registering module found"
    # in a fresh process: nothing else has imported those modules yet
    code = (
        "import sys; from embedding_net.saving import register_all; register_all(); "
        "print(' '.join(m for m in sys.modules if m.startswith('embedding_net')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = set(done.stdout.split())
    missing = sorted(registering - imported)
    assert not missing, f"register_all() does not import {missing}"
    assert set(REGISTERING_MODULES) <= imported


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.keras"))):
        embedding_net.load_model(tmp_path / "nope.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match="weights.h5 is not a .keras file"):
        embedding_net.load_model(tmp_path / "weights.h5")
