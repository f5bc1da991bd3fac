"""The folder of a training run: what it holds, how it is prepared, resumed and summarised.

:class:`RunDirectory` owns every file of :data:`RUN_OUTPUTS`::

    run = RunDirectory.prepare("runs/x", resume=False, overwrite=False)
    run.write_inputs(config, split.label_map)      # config.yaml, label_map.json
    ...                                            # fit: logs/, backup/, best.keras, history.csv
    network = run.save_trained(model)              # final.keras, best.keras, network.keras
    run.write_metrics(summary)                     # metrics.json
"""

from __future__ import annotations

import shutil
from pathlib import Path

from embedding_net.atomic import (
    atomic_path,
    leftover_temporaries,
    remove_leftover_temporaries,
    write_json_atomic,
)
from embedding_net.config.loader import ConfigError, dump_config
from embedding_net.config.schema import TrainConfig
from embedding_net.training import saving

#: files and folders a run writes (and ``overwrite=True`` removes; nothing else is touched)
RUN_OUTPUTS = (
    "config.yaml",
    "label_map.json",
    "logs",
    "backup",
    "best.keras",
    "final.keras",
    "final.weights.h5",
    "network.keras",
    "history.csv",
    "metrics.json",
    "preset",
)


class RunDirectory:
    """The output folder of one run (see :data:`RUN_OUTPUTS` for its files).

    Args:
        path: the folder; :meth:`prepare` checks and creates it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def prepare(cls, path: str | Path, resume: bool, overwrite: bool) -> RunDirectory:
        """Check the folder for a new run (empty, or ``overwrite``: the outputs of an earlier
        run are removed) or for ``resume`` (its ``backup/`` must exist); create it.

        Raises:
            FileNotFoundError: ``resume`` and nothing to resume.
            FileExistsError: not empty without ``resume`` / ``overwrite``, or holding files
                a run does not write.
        """
        run = cls(path)
        output_dir = run.path
        if resume:
            if not run.backup.is_dir():
                raise FileNotFoundError(
                    f"resume: {run.backup} does not exist (nothing to resume; train "
                    "without --resume first)"
                )
            run.remove_leftover_temporaries()
            return run
        if output_dir.exists() and any(output_dir.iterdir()):
            if not overwrite:
                raise FileExistsError(
                    f"output_dir {output_dir} is not empty: pass --resume to continue that run "
                    "or --overwrite to replace its outputs"
                )
            run._remove_outputs()
        output_dir.mkdir(parents=True, exist_ok=True)
        return run

    def remove_leftover_temporaries(self) -> list[Path]:
        """Remove the temporary files a killed run left (``.network.keras.tmp-...``, in the
        folder and its backup folders); nothing reads them, they only take space."""
        folders = [self.path, self.backup]
        if self.backup.is_dir():
            folders += [p for p in self.backup.iterdir() if p.is_dir()]
        return [p for folder in folders for p in remove_leftover_temporaries(folder)]

    def _remove_outputs(self) -> None:
        leftovers = set(leftover_temporaries(self.path))
        theirs = [
            p.name for p in self.path.iterdir() if p.name not in RUN_OUTPUTS and p not in leftovers
        ]
        if theirs:
            raise FileExistsError(
                f"output_dir {self.path} holds files this command did not write "
                f"({', '.join(sorted(theirs)[:5])}): choose another output_dir"
            )
        for name in RUN_OUTPUTS:
            path = self.path / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        remove_leftover_temporaries(self.path)

    # ------------------------------------------------------------------ the files
    @property
    def backup(self) -> Path:
        """``backup/``: the epoch backups (``backup/fine_tune/`` for a fine-tuning phase)."""
        return self.path / "backup"

    def phase_backup(self, phase: str) -> Path:
        """The backup folder of a phase of the run: ``backup/`` for the first (or only) phase,
        ``backup/<phase>/`` for a later one (``fine_tune``)."""
        return self.backup if phase in ("train", "frozen") else self.backup / phase

    @property
    def best_model(self) -> Path:
        return self.path / "best.keras"

    @property
    def network(self) -> Path:
        return self.path / "network.keras"

    @property
    def history_csv(self) -> Path:
        return self.path / "history.csv"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    # ------------------------------------------------------------------ a run's life
    def check_resume(self, config: TrainConfig) -> None:
        """Refuse to resume what cannot continue: another freeze/unfreeze schedule than the
        run's own (the backups hold the optimizer state of the phase they were written in),
        or ``schedule.span: time``."""
        source = config.source or "config"
        saved = self._model_section_started_with()
        for key in ("freeze_epochs", "unfreeze_from"):
            before, now = (saved or {}).get(key), getattr(config.model, key)
            if saved is not None and before != now:
                raise ConfigError(
                    f"{source}: model.{key}: resume with {now!r}, but the run in "
                    f"{self.path} was started with {before!r} (its backups hold the optimizer "
                    "state of that schedule): keep the value, or train afresh with --overwrite"
                )
        if config.schedule.span == "time":
            raise ConfigError(
                f"{source}: schedule.span: 'time' cannot resume (its "
                "learning rate follows the wall clock of the interrupted run): train afresh "
                "with --overwrite, or use span: epochs"
            )

    def _model_section_started_with(self) -> dict | None:
        """The ``model`` section of the run's own ``config.yaml`` (None: no such file)."""
        import yaml

        path = self.path / "config.yaml"
        if not path.is_file():
            return None
        return (yaml.safe_load(path.read_text()) or {}).get("model") or {}

    def write_inputs(self, config: TrainConfig, label_map: dict) -> None:
        """``config.yaml`` (the resolved config) and ``label_map.json`` (identity -> id)."""
        with atomic_path(self.path / "config.yaml") as tmp:
            dump_config(config, tmp)
        write_json_atomic(self.path / "label_map.json", {str(k): v for k, v in label_map.items()})

    def save_trained(self, model):
        """``final.keras``, ``best.keras`` and ``network.keras`` (see
        :func:`~embedding_net.training.save_trained`); returns the best embedding network.

        Raises:
            SaveError: a file could not be written (the message names the one holding the
                trained model).
        """
        return saving.save_trained(model, self.path)

    def write_preset(self, network, config: TrainConfig, metrics: dict) -> Path | None:
        """``preset/``: the best embedding network as a self-describing preset
        (:meth:`~embedding_net.BaseNetwork.save_to_preset`, with the run's config and
        held-out metrics); None for a network that is no ``BaseNetwork``.

        Raises:
            SaveError: the preset could not be written (``network.keras`` holds the model).
        """
        from embedding_net.models import BaseNetwork

        if not isinstance(network, BaseNetwork):
            return None
        try:
            return network.save_to_preset(
                self.path / "preset", training_config=config, metrics=metrics, overwrite=True
            )
        except (OSError, ValueError, TypeError) as exc:
            raise saving.SaveError(
                f"{self.path / 'preset'}: the preset could not be written ({exc}); the trained "
                f"network is in {self.network}"
            ) from exc

    def write_metrics(self, summary: dict) -> None:
        """``metrics.json``: the run's summary (validation metrics of the best model, epochs,
        timings, data sizes)."""
        write_json_atomic(self.path / "metrics.json", summary)
