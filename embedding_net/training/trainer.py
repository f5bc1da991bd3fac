"""``train(config)``: the data, the model, its phases, the run directory; top to bottom."""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from embedding_net.callbacks.backup import restore_backup
from embedding_net.config.records import is_final, list_records, split_records, split_seed
from embedding_net.config.schema import TrainConfig
from embedding_net.evaluation.protocols import build_validation_set, run_metrics
from embedding_net.training.builders import build_model, build_train_dataset, compile_model
from embedding_net.training.fine_tune import FineTunePlan
from embedding_net.training.precision import resolve_precision
from embedding_net.training.run_callbacks import RunCallbacks
from embedding_net.training.run_directory import RunDirectory


@dataclass
class TrainingResult:
    """What :func:`train` produced.

    Attributes:
        output_dir: the run folder.
        metrics: validation metrics of the best model (empty without validation).
        history: ``{log name: [value per epoch]}`` of this call (the frozen and the
            fine-tuning phases of a ``model.freeze_epochs`` run concatenated).
        epochs_run: epochs run by this call (fewer after a resume or a time budget stop).
        seconds: wall time of ``fit`` (both phases).
        best_model: path of ``best.keras``; network: path of ``network.keras``.
    """

    output_dir: Path
    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    seconds: float = 0.0
    best_model: Path | None = None
    network: Path | None = None


def train(
    config: TrainConfig,
    output_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainingResult:
    """Train the model a config describes.

    Args:
        config: a validated :class:`~embedding_net.config.TrainConfig`.
        output_dir: overrides ``config.output_dir``.
        resume: continue the run in ``output_dir`` from its last epoch backup (weights,
            optimizer state, epoch counter).
        overwrite: replace the outputs of an earlier run in ``output_dir`` (only the files
            listed in :data:`RUN_OUTPUTS`; a folder holding other files is refused).

    Returns:
        :class:`TrainingResult`.

    Raises:
        FileExistsError: ``output_dir`` is not empty and neither ``resume`` nor ``overwrite``.
        FileNotFoundError: data missing, or nothing to resume.
        ConfigError: a setting that only fails once the data is known (e.g. ``sampler.P``
            above the number of training identities).
        SaveError: a model file could not be written (the message names the file that
            holds the trained model).
    """
    run = RunDirectory.prepare(output_dir or config.output_dir, resume=resume, overwrite=overwrite)
    keras.utils.set_random_seed(config.seed)
    with _dtype_policy(resolve_precision(config.training.mixed_precision)):
        return _train(config, run, resume)


def _train(config: TrainConfig, run: RunDirectory, resume: bool) -> TrainingResult:
    records, triplets = list_records(config.data)
    seed = split_seed(config)
    split = split_records(records, triplets, config.data, seed)
    if resume:
        run.check_resume(config)
    run.write_inputs(config, split.label_map)
    validation = build_validation_set(config, split, seed)
    dataset, steps = build_train_dataset(config, split)
    num_classes = len(split.label_map)
    model, network = build_model(config, num_classes)
    plan = FineTunePlan.from_config(config, run)
    plan.check(config, network)
    callbacks = RunCallbacks(config, run, network, validation)

    start = time.monotonic()
    compile_phase = functools.partial(
        compile_model, config, model, network, num_classes, steps, time_budget=callbacks.time_budget
    )
    histories = _fit_phases(
        plan, model, network, (dataset, steps), compile_phase, callbacks, config
    )
    seconds = time.monotonic() - start

    best_network = run.save_trained(model)
    metrics = {}
    if validation is not None:
        metrics = run_metrics(best_network, validation, config.validation)
    history, epochs_run = _concatenate(histories)
    run.write_preset(best_network, config, metrics)
    run.write_metrics(
        {
            "name": config.name,
            "final": is_final(config.data),
            "split_seed": seed,
            "protocol": config.validation.protocol,
            "monitor": callbacks.monitor,
            "metrics": metrics,
            "best_epoch": callbacks.best_epoch(),
            "epochs_run": epochs_run,
            "freeze_epochs": config.model.freeze_epochs,
            "fit_seconds": round(seconds, 1),
            "dtype_policy": keras.config.dtype_policy().name,
            "steps_per_epoch": steps,
            "num_train_images": len(split.train),
            "num_train_identities": num_classes,
            "num_val_images": len(split.val),
        }
    )
    return TrainingResult(
        output_dir=run.path,
        metrics=metrics,
        history=history,
        epochs_run=epochs_run,
        seconds=seconds,
        best_model=run.best_model,
        network=run.network,
    )


def _fit_phases(plan, model, network, data, compile_phase, callbacks, config) -> list:
    """Compile and fit each pending phase of ``plan`` from its backup on ``data``, the
    ``(infinite dataset, steps per epoch)`` pair; returns their ``History`` objects.
    Fine-tuning is skipped once the time budget is spent; a phase that its backup shows
    complete is restored, not fitted (unless it is the last)."""
    dataset, steps = data
    histories = []
    for phase in plan.pending():
        if phase.unfreeze and callbacks.budget_exhausted:
            break
        loss = plan.enter(phase, model, network)
        schedule = compile_phase(learning_rate=phase.learning_rate, epochs=phase.epochs, loss=loss)
        first = max(phase.first_epoch, restore_backup(model, phase.backup))
        if first >= phase.end_epoch and not plan.is_last(phase):
            continue
        history = model.fit(
            dataset,
            epochs=phase.end_epoch,
            initial_epoch=first,
            steps_per_epoch=steps,  # the dataset is infinite: one iterator for the run
            callbacks=callbacks.for_phase(phase, schedule),
            verbose=config.training.verbose,
            shuffle=False,  # the tf.data pipelines shuffle (seeded) themselves
        )
        histories.append(history)
    return histories


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Set Keras' global dtype policy to ``training.mixed_precision`` for the run and restore
    the previous one afterwards, whatever happens."""
    previous = keras.config.dtype_policy()
    if name != "float32":
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _concatenate(histories) -> tuple[dict, int]:
    """``({log name: values of every phase}, epochs run)`` of the phases' ``History``."""
    merged: dict = {}
    for history in histories:
        for key, values in history.history.items():
            merged.setdefault(key, []).extend(float(x) for x in values)
    return merged, sum(len(history.epoch) for history in histories)
