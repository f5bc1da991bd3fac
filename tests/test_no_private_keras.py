"""The package uses no private Keras API: it breaks silently when Keras is upgraded."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "embedding_net"
#: Private Keras state the package once reached into (issue: API 1.0 item 5).
FORBIDDEN_ATTRIBUTES = ("_tracker", "_attached_to_model", "_initial_epoch", "_symbolic_build")
#: The one named exception, with its reason: ``fit_distributed`` builds the optimizer and the
#: compiled loss/metric trackers in cross-replica context before its custom multi-worker loop,
#: which Keras offers no public call for (its own build step reduces the first batch across
#: workers, which fails under MultiWorkerMirroredStrategy).
ALLOWED_USES: set = set()


def _sources():
    files = sorted(PACKAGE.rglob("*.py"))
    assert files, f"no sources under {PACKAGE}"
    return files


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras.src"):
            found.append(f"{path}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [
                f"{path}:{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("keras.src")
            ]
        elif isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_ATTRIBUTES and (path.name, node.attr) not in ALLOWED_USES:
                found.append(f"{path}:{node.lineno}: .{node.attr}")
            elif (
                node.attr == "src" and isinstance(node.value, ast.Name) and node.value.id == "keras"
            ):
                found.append(f"{path}:{node.lineno}: keras.src")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # getattr(model, "_tracker") and importlib.import_module("keras.src...")
            if node.value in FORBIDDEN_ATTRIBUTES or node.value.startswith("keras.src"):
                found.append(f"{path}:{node.lineno}: string {node.value!r}")
    return found


def test_package_uses_no_private_keras_api():
    found = [use for path in _sources() for use in _private_uses(path)]
    assert not found, "private Keras API in embedding_net/:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from keras.src.backend import set_keras_mask\n",
        "import keras.src.utils\n",
        "x = keras.src.ops\n",
        "model._tracker.unlock()\n",
        "layer._attached_to_model = True\n",
        "model._initial_epoch = None\n",
        "getattr(model, '_tracker', None)\n",
    ],
)
def test_the_check_finds_each_forbidden_use(tmp_path, source):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert _private_uses(path), source


def test_the_check_accepts_public_keras(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("import keras\nfrom keras import ops\nmodel.compile(loss='mse')\n")
    assert _private_uses(path) == []
