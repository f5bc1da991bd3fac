"""Each example's small config trains end to end on the shared sample data (shortened here:
1 epoch of 3 steps; the configs themselves are what the example READMEs run)."""

import json
from pathlib import Path

import pytest
import yaml

from embedding_net.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = [
    ("mars/small_siamese.yaml", "rank1"),
    ("mars/small_triplet.yaml", "mAP"),
    ("lfw/small_contrastive.yaml", "pair_accuracy"),
    ("lfw/small_triplet.yaml", "pair_accuracy"),
    ("traffic_signs/small.yaml", "knn_top1"),
    ("csv_triplets/small.yaml", "knn_top1"),
]


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("name, metric", SMALL, ids=[n for n, _ in SMALL])
def test_small_config_trains(name, metric, shared_data, tmp_path, capsys):
    shared_data("sample")
    config = EXAMPLES / name
    args = [
        "train",
        "--config",
        str(config),
        "--output-dir",
        str(tmp_path / "run"),
        "--set",
        "training.epochs=1",
        "--set",
        "sampler.steps_per_epoch=3",
        "--set",
        "training.verbose=0",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert 0.0 <= summary["metrics"][metric] <= 1.0
    if yaml.safe_load(config.read_text())["validation"].get("rerank"):
        # re-ranked metrics beside the plain ones, from the same saved network
        assert 0.0 <= summary["metrics"][f"reranked_{metric}"] <= 1.0
    assert (tmp_path / "run" / "network.keras").is_file()


@pytest.mark.parametrize("folder", ["mars", "lfw", "traffic_signs", "csv_triplets"])
def test_example_has_readme_small_and_full_config(folder):
    files = {p.name for p in (EXAMPLES / folder).iterdir()}
    assert "README.md" in files
    assert any(f.startswith("small") and f.endswith(".yaml") for f in files)
    assert any(f.startswith("full") and f.endswith(".yaml") for f in files)
    readme = (EXAMPLES / folder / "README.md").read_text()
    for f in files:
        if f.endswith(".yaml"):
            assert f in readme, f"{folder}/README.md does not mention {f}"
