"""Mean and spread of metrics over repeated runs (seeded splits or query / pair draws).

One split is one estimate: a margin of a few tenths of a point on it is not evidence. Run the
same evaluation (or training) on ``k`` seeded splits and compare the means, with their spread::

    from embedding_net.evaluation.repeats import summarize_repeats

    summary = summarize_repeats([{"rank1": 0.61, "mAP": 0.60}, {"rank1": 0.65, "mAP": 0.62}])
    summary["rank1"]   # {"mean": 0.63, "sd": 0.028..., "min": 0.61, "max": 0.65, "n": 2, ...}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def summarize_repeats(runs: Sequence[Mapping]) -> dict:
    """Per-metric mean, sample standard deviation, min and max over repeated runs.

    Args:
        runs: one ``{metric: value}`` mapping per run (the metrics of a protocol or the
            ``metrics`` of a training run). Non-numeric values (names, lists) are ignored;
            a metric missing from some runs is summarised over the runs that have it.

    Returns:
        ``{metric: {"mean", "sd", "min", "max", "n", "values"}}`` for every numeric metric,
        in the order of first appearance. ``sd`` is the sample standard deviation
        (``ddof=1``; None for one run); non-finite values (NaN, inf) are left out of the
        statistics and counted in ``"non_finite"``; a metric with no finite value has
        ``mean`` None.

    Raises:
        ValueError: ``runs`` is empty, or an element is not a mapping.
    """
    if len(runs) == 0:
        raise ValueError("summarize_repeats: runs is empty (expected at least one run's metrics)")
    names: dict[str, list] = {}
    for i, run in enumerate(runs):
        if not isinstance(run, Mapping):
            raise ValueError(
                f"summarize_repeats: runs[{i}] is a {type(run).__name__}, expected a mapping "
                "of metric names to values"
            )
        for name, value in run.items():
            if _is_number(value):
                names.setdefault(str(name), []).append(float(value))
    return {name: _statistics(values) for name, values in names.items()}


def _statistics(values: list[float]) -> dict:
    finite = [v for v in values if math.isfinite(v)]
    stats = {"mean": None, "sd": None, "min": None, "max": None, "n": len(finite)}
    if finite:
        array = np.asarray(finite, np.float64)
        stats.update(
            mean=float(array.mean()),
            sd=float(array.std(ddof=1)) if len(finite) > 1 else None,
            min=float(array.min()),
            max=float(array.max()),
        )
    stats["values"] = values
    if len(finite) < len(values):
        stats["non_finite"] = len(values) - len(finite)
    return stats


def format_summary(summary: Mapping, digits: int = 4) -> str:
    """``"rank1 0.6300 +- 0.0283 (n=2), mAP ..."``: one line for a log or a README."""
    parts = []
    for name, s in summary.items():
        if s["mean"] is None:
            parts.append(f"{name} n/a (n=0)")
            continue
        sd = "" if s["sd"] is None else f" +- {s['sd']:.{digits}f}"
        parts.append(f"{name} {s['mean']:.{digits}f}{sd} (n={s['n']})")
    return ", ".join(parts)
