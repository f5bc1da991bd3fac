"""The example notebooks execute top to bottom (headless, small settings) and are stored clean."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "examples" / "notebooks"

# notebook -> shared data folders it reads (skipped with a message when absent)
CASES = {
    "quickstart_digits.ipynb": [],
    "reid_sample.ipynb": [("sample", "reid_cuhk03"), ("train", "reid_cuhk03")],
    "face_verification_lfw.ipynb": [("sample", "faces_lfw"), ("train", "faces_lfw")],
}
# minimum number of pictures each notebook must show when executed
MIN_FIGURES = {
    "quickstart_digits.ipynb": 4,
    "reid_sample.ipynb": 4,
    "face_verification_lfw.ipynb": 5,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_is_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code cells"
    for cell in code:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, (
            f"{name}: store notebooks without outputs (clear them before committing)"
        )


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_executes(name, tmp_path, shared_data, monkeypatch):
    for parts in CASES[name]:
        shared_data(*parts)
    # the kernel inherits this environment: make the checkout importable, keep logs quiet
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # files the notebook writes go here
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    errors = [output for output in outputs if output.output_type == "error"]
    assert not errors, errors
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= MIN_FIGURES[name], f"{name} showed {len(figures)} figure(s)"
