"""JAX backend, ``keras.distribution.DataParallel`` over 2 CPU devices: one training step
with an in-batch loss equals one device on the same global batch.

The step runs in a subprocess (``KERAS_BACKEND=jax``, 2 host devices forced through
``XLA_FLAGS``), so the test runs in the normal TensorFlow test session.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("jax_data_parallel_step.py")
LOSSES = ["batch-hard-triplet", "multi-similarity"]


@pytest.fixture(scope="module")
def reports():
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
    )
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *LOSSES],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {r["loss"]: r for r in json.loads(result.stdout.strip().splitlines()[-1])}


@pytest.mark.parametrize("loss", LOSSES)
def test_data_parallel_equals_single_device(reports, loss):
    report = reports[loss]
    # really distributed: 2 devices, each gets half the batch, variables replicated on both
    assert report["devices"] == 2
    assert report["shard_rows"] == 8
    assert report["single_variable_devices"] == 1
    assert report["distributed_variable_devices"] == 2
    assert report["distributed_loss"] == pytest.approx(report["single_loss"], rel=1e-5)
    # one SGD step: the updated weights agree to float32 precision (1e-5 of the update,
    # plus two float32 roundings of the weights themselves)
    float32_eps = 1.1920929e-07
    tolerance = 1e-5 * report["update_scale"] + 2 * float32_eps * report["weight_scale"]
    assert report["max_update_diff"] <= tolerance
    assert report["max_update_diff"] < 1e-2 * report["update_scale"]
    # mining over each device's half alone would give another loss: the comparison is
    # sensitive to where the mining happens
    assert abs(report["per_device_loss"] - report["single_loss"]) > 1e-3
