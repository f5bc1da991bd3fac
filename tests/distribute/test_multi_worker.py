"""MultiWorkerMirroredStrategy with two local worker processes: ``fit_distributed`` on a
global batch split between the workers equals one device on the whole batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute test"),
]

SCRIPT = Path(__file__).with_name("multi_worker_step.py")
LOSSES = ["batch-hard-triplet", "triplet-semihard"]
TIMEOUT = 240  # seconds for both workers together (about 40-60 s on 2 busy cores)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(losses, tmp_path):
    """Start both workers, wait for both (killing both on a timeout or an error), return
    their parsed reports."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                ),
                KERAS_BACKEND="tensorflow",
            )
            env.pop("XLA_FLAGS", None)
            logs = tmp_path / f"worker{index}.err"
            workers.append(
                subprocess.Popen(
                    [sys.executable, str(SCRIPT), *losses],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=logs.open("w"),
                    text=True,
                )
            )
        outputs = [worker.communicate(timeout=TIMEOUT)[0] for worker in workers]
    finally:
        for worker in workers:  # no-op for the finished ones
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for index, worker in enumerate(workers):
        err = (tmp_path / f"worker{index}.err").read_text()[-3000:]
        assert worker.returncode == 0, f"worker {index} failed:\n{err}"
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    return run_workers(LOSSES, tmp_path_factory.mktemp("multi_worker"))


@pytest.mark.parametrize("loss", LOSSES)
def test_two_workers_equal_single_device(workers, loss):
    reports = [{r["loss"]: r for r in w["reports"]}[loss] for w in workers]
    assert sorted(w["worker"] for w in workers) == [0, 1]
    for report in reports:
        assert report["replicas"] == 2
        assert report["distributed_loss"] == pytest.approx(report["single_loss"], rel=1e-5)
        # one SGD step: the weight updates (the gradients) agree to float32 precision
        assert report["max_update_diff"] <= 1e-5 * max(report["update_scale"], 1e-3)
        # mining per worker (no gathering) would NOT agree: the test can fail
        assert report["per_replica_update_diff"] > 100 * report["max_update_diff"]
    # both workers hold the same weights and report the same (all-reduced) logs
    first, second = reports
    assert first["weights_checksum"] == second["weights_checksum"]
    assert first["per_replica_loss"] == second["per_replica_loss"]
