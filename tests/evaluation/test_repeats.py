"""summarize_repeats / format_summary against numpy, with the edge cases."""

import math

import numpy as np
import pytest

from embedding_net.evaluation.repeats import format_summary, summarize_repeats


def test_mean_and_sample_sd_match_numpy():
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (5, 2))
    runs = [{"rank1": a, "mAP": b, "protocol": "reid"} for a, b in values]
    summary = summarize_repeats(runs)
    assert list(summary) == ["rank1", "mAP"]  # non-numeric values are left out
    for j, name in enumerate(["rank1", "mAP"]):
        s = summary[name]
        assert s["mean"] == pytest.approx(values[:, j].mean())
        assert s["sd"] == pytest.approx(np.std(values[:, j], ddof=1))
        assert (s["min"], s["max"]) == (values[:, j].min(), values[:, j].max())
        assert s["n"] == 5 and s["values"] == pytest.approx(list(values[:, j]))


def test_one_run_has_no_sd_and_identical_runs_have_zero_sd():
    assert summarize_repeats([{"acc": 0.9}])["acc"]["sd"] is None
    same = summarize_repeats([{"acc": 0.9}] * 3)["acc"]
    assert same["mean"] == pytest.approx(0.9) and same["sd"] == pytest.approx(0.0)


def test_non_finite_values_are_counted_not_averaged():
    s = summarize_repeats([{"a": 1.0}, {"a": math.nan}, {"a": 3.0}, {"a": math.inf}])["a"]
    assert s["mean"] == pytest.approx(2.0) and s["n"] == 2 and s["non_finite"] == 2
    none = summarize_repeats([{"a": math.nan}])["a"]
    assert none["mean"] is None and none["n"] == 0
    assert "a n/a" in format_summary({"a": none})


def test_metric_missing_from_some_runs_and_bools_ignored():
    s = summarize_repeats([{"a": 1, "b": 2}, {"a": 3, "flag": True}])
    assert s["a"]["n"] == 2 and s["b"]["n"] == 1 and "flag" not in s


def test_format_summary_line():
    line = format_summary(summarize_repeats([{"acc": 0.5}, {"acc": 0.7}]), digits=2)
    assert line == "acc 0.60 +- 0.14 (n=2)"


@pytest.mark.parametrize("runs, message", [([], "empty"), ([{"a": 1}, [1, 2]], r"runs\[1\]")])
def test_bad_input_is_named(runs, message):
    with pytest.raises(ValueError, match=message):
        summarize_repeats(runs)
