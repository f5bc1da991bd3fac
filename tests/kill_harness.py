"""Run a real ``python -m embedding_net`` child process and SIGKILL it when a trigger fires.

Used by the crash-safety tests (tests/training/test_kill_resume.py,
tests/cli/test_tfrecord_kill.py). A trigger is a function of nothing that says whether the
moment has come (a file appeared, a backup reached an epoch); the kill follows after a
seeded random delay, so every run of the tests kills at the same (reproducible) moments
relative to those events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict:
    """The environment of a child: this checkout's package first, quiet TensorFlow, CPU."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONUNBUFFERED="1")
    return env


@dataclass
class Outcome:
    """What became of one child: ``killed`` (by us), or its exit code and output."""

    killed: bool
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr


@dataclass
class FaultCounts:
    """The tally printed in the tests' assertion messages (and the closing note)."""

    cases: int = 0  # kills sent
    clear_errors: int = 0  # exits with code 2 and an "error:" line, no traceback
    crashes: int = 0  # a traceback or an exit code other than 0 / 2
    lost: int = 0  # a completed epoch / a complete file lost, or a truncated file taken as valid
    resumed: int = 0  # runs that continued from a backup and finished
    notes: list = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"fault counts: cases tried {self.cases}, clear errors {self.clear_errors}, "
            f"crashes {self.crashes}, data lost {self.lost}, resumed and finished "
            f"{self.resumed}; " + "; ".join(self.notes)
        )


def run_child(
    args: list[str], trigger=None, delay: float = 0.0, timeout: float = 240.0, poll: float = 0.002
) -> Outcome:
    """Start ``python -m embedding_net *args``; SIGKILL it ``delay`` seconds after
    ``trigger()`` first returns True (never, without a trigger); wait for it to end."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedding_net", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    killed = False
    fired_at = None
    try:
        while proc.poll() is None and trigger is not None:
            now = time.monotonic()
            if fired_at is None and trigger():
                fired_at = now
            if fired_at is not None and now - fired_at >= delay:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            if now - start > timeout:
                break
            time.sleep(poll)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:  # only our own child, by its id
            proc.kill()
            proc.communicate()
    killed = killed and proc.returncode == -signal.SIGKILL
    return Outcome(killed, proc.returncode, stdout, stderr, time.monotonic() - start)


def classify(outcome: Outcome, counts: FaultCounts, what: str) -> str:
    """``"killed"``, ``"ok"``, ``"clear"`` (exit 2 with a message) or ``"crash"``; counted."""
    if outcome.killed:
        counts.cases += 1
        return "killed"
    if outcome.returncode == 0 and not outcome.traceback:
        return "ok"
    if outcome.returncode == 2 and not outcome.traceback and "error:" in outcome.stderr:
        counts.clear_errors += 1
        counts.notes.append(f"{what}: {outcome.stderr.strip().splitlines()[-1][:160]}")
        return "clear"
    counts.crashes += 1
    counts.notes.append(f"{what}: CRASH rc={outcome.returncode} {outcome.stderr[-600:]}")
    return "crash"


def hidden_temporaries(folder: Path, contains: str = "") -> list[Path]:
    """Temporary files of embedding_net.atomic in ``folder`` whose name contains ``contains``."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if ".tmp-" in p.name and contains in p.name]
