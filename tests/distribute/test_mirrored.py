"""Distributed training equals single-device training on the same global batch."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute test"),
]

SCRIPT = Path(__file__).with_name("mirrored_step.py")


LOSSES = ["triplet-semihard", "batch-hard-triplet", "multi-similarity"]


@pytest.fixture(scope="module")
def reports():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *LOSSES], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {r["loss"]: r for r in json.loads(result.stdout.strip().splitlines()[-1])}


@pytest.mark.parametrize("loss", LOSSES)
def test_mirrored_two_replicas_equal_single_device(reports, loss):
    report = reports[loss]
    assert report["replicas"] == 2
    assert report["distributed_loss"] == pytest.approx(report["single_loss"], rel=1e-5)
    # one SGD step: the weight updates (the gradients) agree to float32 precision
    assert report["max_update_diff"] <= 1e-5 * max(report["update_scale"], 1e-3)
    # the same with fit_distributed (the loop for MultiWorkerMirroredStrategy)
    assert report["fit_distributed_loss"] == pytest.approx(report["single_loss"], rel=1e-5)
    assert report["fit_distributed_update_diff"] <= 1e-5 * max(report["update_scale"], 1e-3)
    # and mining per replica (no gathering) would NOT agree: the test can fail
    assert report["per_replica_update_diff"] > 100 * report["max_update_diff"]
