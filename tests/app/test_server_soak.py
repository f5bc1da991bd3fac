"""The soak benchmark at a tiny size: the real `embedding-net serve` process answers every
mixed request from concurrent clients (no failure, no absolute path in any body)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")


def test_soak_at_tiny_size_has_zero_failures(tmp_path):
    from benchmarks import server_soak

    output = tmp_path / "soak.json"
    report = server_soak.main(
        ["--requests", "40", "--concurrency", "4", "--max-seconds", "60", "--output", str(output)]
    )
    saved = json.loads(output.read_text())
    assert saved["results"] == report["results"]
    results = saved["results"]
    assert results["sent_requests"] == 40, results
    assert results["failures"] == 0, results["failure_examples"]
    assert results["latency"]["p50_ms"] <= results["latency"]["p95_ms"]
    assert sum(v["n"] for v in results["by_kind"].values()) == 40
    assert "(lscpu)" in saved["machine"]


def test_soak_plan_is_seeded_and_mixed():
    from benchmarks.server_soak import KINDS, plan

    jobs = plan(400, 32)
    assert jobs == plan(400, 32)
    assert {kind for kind, _ in jobs} == set(KINDS)
    assert all(0 <= item < 32 for _, item in jobs)
