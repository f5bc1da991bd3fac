"""``train_repeats(config, k)``: the same config trained on ``k`` seeded hold-out splits.

Choose a configuration on the mean over splits, not on one split::

    result = train_repeats(load_config("examples/mars/full.yaml"), repeats=3)
    result.summary["rank1"]        # {"mean": ..., "sd": ..., "values": [...], ...}

Run ``i`` trains the config with ``data.split_seed = first + i`` (``first``: the config's
split seed) into ``<output_dir>/split-<seed>/`` (a whole run folder each); ``repeats.json``
in ``<output_dir>`` holds each run's metrics and their mean +- sd. Only the hold-out split
(and the query / pair draw of its validation set) changes between runs: the training seed
(``seed``) stays, so the spread is that of the data a config is judged on.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from embedding_net.atomic import write_json_atomic
from embedding_net.config.records import is_final, split_seed
from embedding_net.config.schema import TrainConfig
from embedding_net.evaluation.repeats import format_summary, summarize_repeats

logger = logging.getLogger("embedding_net")

#: the summary file of a repeated run, beside its ``split-<seed>/`` folders
REPEATS_FILE = "repeats.json"


@dataclass
class RepeatsResult:
    """What :func:`train_repeats` produced.

    Attributes:
        output_dir: the folder holding ``split-<seed>/`` runs and ``repeats.json``.
        seeds: the split seed of each run.
        runs: each run's validation metrics (``metrics.json``'s ``metrics``).
        summary: :func:`~embedding_net.evaluation.repeats.summarize_repeats` of ``runs``.
    """

    output_dir: Path
    seeds: list = field(default_factory=list)
    runs: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def _check_folder(path: Path, resume: bool, overwrite: bool) -> None:
    if not path.exists() or resume or overwrite:
        return
    if any(path.iterdir()):
        raise FileExistsError(
            f"output_dir {path} is not empty: pass --resume to continue those runs or "
            "--overwrite to replace them"
        )


def _finished_metrics(run_dir: Path) -> dict | None:
    """The metrics of a finished run in ``run_dir`` (its ``metrics.json``), else None."""
    path = run_dir / "metrics.json"
    if not (path.is_file() and (run_dir / "network.keras").is_file()):
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("metrics", {})
    except (ValueError, AttributeError):
        return None


def train_repeats(
    config: TrainConfig,
    repeats: int,
    output_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> RepeatsResult:
    """Train ``config`` on ``repeats`` seeded hold-out splits; summarise their metrics.

    Args:
        config: a validated config with a hold-out split (not final-training mode).
        repeats: number of splits (>= 1); seeds ``split_seed(config) + i``.
        output_dir: overrides ``config.output_dir``.
        resume: finished runs (``metrics.json`` + ``network.keras``) are kept and read,
            an interrupted one continues from its backup, missing ones are trained.
        overwrite: replace the runs of an earlier call.

    Returns:
        :class:`RepeatsResult`; ``repeats.json`` is written in ``output_dir``.

    Raises:
        ValueError: ``repeats`` < 1, or the config is in final-training mode (nothing held
            out: there is nothing to repeat).
        FileExistsError: ``output_dir`` is not empty without ``resume`` / ``overwrite``.
    """
    from embedding_net.training.trainer import train

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected an integer >= 1, got {repeats!r}")
    if is_final(config.data):
        raise ValueError(
            f"{config.source or 'config'}: repeats need a hold-out split, but "
            "data.val_fraction is 0 (final-training mode)"
        )
    root = Path(output_dir or config.output_dir)
    _check_folder(root, resume, overwrite)
    first = split_seed(config)
    result = RepeatsResult(output_dir=root, seeds=[first + i for i in range(repeats)])
    for seed in result.seeds:
        run_dir = root / f"split-{seed}"
        metrics = _finished_metrics(run_dir) if resume else None
        if metrics is None:
            run_config = copy.deepcopy(config)
            run_config.data.split_seed = seed
            again = resume and (run_dir / "backup").is_dir()
            trained = train(run_config, output_dir=run_dir, resume=again, overwrite=overwrite)
            metrics = trained.metrics
        result.runs.append(metrics)
        logger.info("repeats: split seed %d: %s", seed, metrics)
    result.summary = summarize_repeats(result.runs)
    logger.info("repeats: %s", format_summary(result.summary))
    _write_summary(root, config, result)
    return result


def _write_summary(root: Path, config: TrainConfig, result: RepeatsResult) -> None:
    payload = {
        "name": config.name,
        "protocol": config.validation.protocol,
        "split_seeds": result.seeds,
        "runs": [
            {"split_seed": s, "output_dir": f"split-{s}", "metrics": m}
            for s, m in zip(result.seeds, result.runs)
        ],
        "summary": result.summary,
    }
    write_json_atomic(root / REPEATS_FILE, payload)
