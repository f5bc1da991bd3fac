"""Train from a config: data + model + compile + fit, with logs, checkpoints and resume.

:func:`train` turns a :class:`~embedding_net.config.TrainConfig` into a trained model::

    from embedding_net.config import load_config
    from embedding_net.training import train

    result = train(load_config("examples/traffic_signs/small.yaml"))
    result.metrics            # {"knn_top1": ..., ...} of the best model on held-out images

It writes into ``output_dir``:

* ``config.yaml``: the resolved config; ``label_map.json``: training identities -> ids;
* ``logs/``: TensorBoard (``tensorboard --logdir <output_dir>/logs``);
* ``backup/``: weights + optimizer state + epoch after every epoch (``resume=True`` continues;
  the fine-tuning phase of a ``model.freeze_epochs`` run backs up to ``backup/fine_tune/``);
* ``best.keras``: the best model by ``validation.monitor`` (the last one without validation);
  ``final.keras``: the model after the last epoch; ``network.keras``: the embedding network
  of the best model (what ``embedding-net encode/search/compare/evaluate`` load);
* ``history.csv`` (one row per epoch, with the ``learning_rate`` at the epoch's end) and
  ``metrics.json`` (validation metrics of the best model, timings).

Fine-tuning schedule (``model.freeze_epochs: N``): the backbone is frozen for epochs 1..N
(its BatchNorm layers in inference mode: moving statistics unchanged) and only the head (and
a loss's own weights) learn; then the backbone is unfrozen (from ``model.unfreeze_from``; its
BatchNorm layers stay frozen), the model is re-compiled with a fresh optimizer whose peak
learning rate is ``optimizer.learning_rate x optimizer.fine_tune_factor``, and ``fit``
continues with epoch N+1 until ``training.epochs``. ``schedule`` runs once per phase, over the
phase's epochs. Best-model checkpointing, validation, the time budget (which spans both
phases), ``history.csv`` and TensorBoard carry across the boundary; early stopping watches the
fine-tuning phase only. ``resume=True`` continues in whichever phase the backups reached.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from embedding_net.callbacks import monitored
from embedding_net.callbacks.budget import TimeBudget
from embedding_net.config.loader import ConfigError, dump_config
from embedding_net.config.records import (
    SplitRecords,
    list_records,
    split_records,
    split_seed,
)
from embedding_net.config.schema import TrainConfig
from embedding_net.config.validation import MAIN_METRIC, build_validation_set, evaluate_protocol

logger = logging.getLogger(__name__)

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
)


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


class LearningRateLog(keras.callbacks.Callback):
    """Write the optimizer's learning rate at the end of each epoch into the epoch logs as
    ``learning_rate`` (so History, ``history.csv`` and TensorBoard record it), unless an
    earlier callback (ReduceLROnPlateau) already did."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "learning_rate" not in logs:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


class _RunCSVLogger(keras.callbacks.Callback):
    """Write one row per epoch to a CSV file whose columns are every key any epoch logged.

    Keras' ``CSVLogger`` fixes its columns at the first epoch, so metrics that first appear
    later (validation every few epochs, a fine-tuning phase) were dropped. This logger keeps
    the run's rows (those already in the file when a run is resumed, too), and rewrites the
    file (tens of rows) with the widened header when a new key appears; an epoch without a
    key has an empty cell there."""

    def __init__(self, filename):
        super().__init__()
        self.filename = Path(filename)
        self.rows: list[dict] | None = None
        self.columns: list[str] = []

    def on_train_begin(self, logs=None):
        if self.rows is not None:  # a later fit() of the same run (fine-tuning phase)
            return
        self.rows = []
        if self.filename.is_file():  # resume: keep the epochs already recorded
            with open(self.filename, newline="") as f:
                reader = csv.DictReader(f)
                self.rows = [dict(row) for row in reader]
                self.columns = [k for k in reader.fieldnames or () if k != "epoch"]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch}
        for key, value in (logs or {}).items():
            value = np.asarray(value)
            row[key] = (
                value.item() if value.ndim == 0 else "[" + ", ".join(map(str, value.ravel())) + "]"
            )
        self.rows.append(row)
        new = sorted(k for k in row if k != "epoch" and k not in self.columns)
        if new or not self.filename.is_file():
            self.columns += new
            self._write(self.rows, "w")
        else:
            self._write([row], "a")

    def _write(self, rows, mode):
        with open(self.filename, mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch", *self.columns], restval="")
            if mode == "w":
                writer.writeheader()
            writer.writerows(rows)


class ProtocolEvaluation(keras.callbacks.Callback):
    """Evaluate the embedding network on a :class:`~embedding_net.config.validation.ValidationSet`
    every ``every`` epochs, after the last and when training is being stopped; metrics go into ``logs`` as ``val_<name>``
    (so ModelCheckpoint, EarlyStopping, ReduceLROnPlateau and TensorBoard placed after it see
    them)."""

    def __init__(
        self, network, validation, every: int = 1, epochs: int = 1, batch_size=128, flip=False
    ):
        super().__init__()
        self.flip = bool(flip)
        self.network = network
        self.validation = validation
        self.every = int(every)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.evaluated: list[tuple[int, dict]] = []  # (epoch number, metrics)

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.epochs or self.model.stop_training  # e.g. TimeBudget
        if (epoch + 1) % self.every and not last:
            return
        metrics = evaluate_protocol(
            self.network, self.validation, batch_size=self.batch_size, flip=self.flip
        )
        self.evaluated.append((epoch + 1, metrics))
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in metrics.items()})


def _prepare_output(output_dir: Path, resume: bool, overwrite: bool) -> None:
    if resume:
        if not (output_dir / "backup").is_dir():
            raise FileNotFoundError(
                f"resume: {output_dir / 'backup'} does not exist (nothing to resume; train "
                "without --resume first)"
            )
        return
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"output_dir {output_dir} is not empty: pass --resume to continue that run or "
                "--overwrite to replace its outputs"
            )
        theirs = [p.name for p in output_dir.iterdir() if p.name not in RUN_OUTPUTS]
        if theirs:
            raise FileExistsError(
                f"output_dir {output_dir} holds files this command did not write "
                f"({', '.join(sorted(theirs)[:5])}): choose another output_dir"
            )
        for name in RUN_OUTPUTS:
            path = output_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)


def build_network(config: TrainConfig):
    """The :class:`~embedding_net.BaseNetwork` of the ``model`` section."""
    from embedding_net.models import BaseNetwork

    m = config.model
    h, w = config.data.image_size
    try:
        return BaseNetwork(
            m.backbone,
            embedding_dim=m.embedding_dim,
            input_shape=(h, w, 3),
            pooling=m.pooling,
            pooling_grid=tuple(m.pooling_grid),
            dropout=m.dropout,
            neck=m.neck,
            normalize=m.normalize,
            weights=m.weights,
            freeze_backbone=m.freeze_backbone or m.freeze_epochs is not None,
            last_stride=m.last_stride,
            width=m.width,
            center_crop=None if m.center_crop is None else tuple(m.center_crop),
            preprocessing=m.preprocessing,
        )
    except ValueError as exc:
        raise ConfigError(f"{config.source or 'config'}: model: {exc}") from None


def build_model(config: TrainConfig, num_classes: int):
    """``(model to fit, embedding network)`` for ``model.kind``; the model is not compiled.

    ``model.kind: embedding`` with a loss section that has weights of its own (a class head
    such as ``cosface`` / ``proxy-anchor`` / ``identity-softmax``, or ``xbm``) gives a
    :class:`~embedding_net.models.ClassifierTrainingModel` around the network; any other
    loss trains the network itself.
    """
    from embedding_net.config.losses import build_objective
    from embedding_net.models import SiameseModel, TripletModel

    network = build_network(config)
    m = config.model
    h_w = config.data.image_size
    objective = None
    if m.kind == "embedding":
        try:
            objective = build_objective(
                config.loss, num_classes, network.embedding_dim, config.source
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if objective is not None and objective.needs_training_model:
        model = objective.training_model(network)
    elif m.kind == "siamese":
        model = SiameseModel(
            network,
            head=m.head,
            distance=m.distance,
            margin=m.margin,
            contrastive_weight=m.contrastive_weight,
        )
    elif m.kind == "triplet":
        model = TripletModel(network, margin=m.margin, distance=m.distance)
    else:
        model = network
    if model is not network:  # build the wrapper (BackupAndRestore needs built models)
        dummy = np.zeros((1, h_w[0], h_w[1], 3), np.uint8)
        inputs = {"siamese": 2, "triplet": 3}.get(m.kind)
        model(dummy if inputs is None else tuple([dummy] * inputs), training=False)
    return model, network


def _augment(config: TrainConfig):
    from embedding_net.data import augmentation_pipeline

    a = config.augmentation
    if a.preset is None:
        return None
    return augmentation_pipeline(
        a.preset,
        image_size=config.data.image_size,
        seed=config.seed,
        randaugment=a.randaugment,
        erasing_probability=a.erasing_probability,
        pad=a.pad,
    )


def build_train_dataset(config: TrainConfig, split: SplitRecords):
    """``(tf.data.Dataset, steps_per_epoch)`` of the ``sampler`` section.

    ``steps_per_epoch`` is the number of batches of one epoch (the dataset yields exactly
    that many per iteration).
    """
    from embedding_net import data as en_data

    s, d = config.sampler, config.data
    size = tuple(d.image_size)
    augment = _augment(config)
    records = split.train
    if d.layout == "tfrecord":
        if s.kind != "pk":
            raise ConfigError(
                f"{config.source or 'config'}: sampler.kind: layout 'tfrecord' trains with 'pk'"
            )
    paths = [r.path for r in records]
    labels = [split.label_map[r.label] for r in records]
    if s.kind == "pk":
        n_ids = len(split.label_map)
        if n_ids < s.P:
            raise ConfigError(
                f"{config.source or 'config'}: sampler.P: {s.P} identities per batch but the "
                f"training split holds {n_ids}"
            )
        if s.singles:
            counts = Counter(r.label for r in records)
            n_multi = sum(1 for c in counts.values() if c >= 2)
            n_single = len(counts) - n_multi
            if n_multi < s.P or n_single < s.singles:
                raise ConfigError(
                    f"{config.source or 'config'}: sampler.singles: {s.P} identities with two "
                    f"or more images and {s.singles} with one are drawn per batch, but the "
                    f"training split holds {n_multi} and {n_single}"
                    + (
                        " (data.min_images_per_identity leaves out the one-image identities)"
                        if d.min_images_per_identity
                        else ""
                    )
                )
        steps = s.steps_per_epoch or max(1, len(records) // (s.P * s.K + s.singles))
        if d.layout == "tfrecord":
            source = Path(d.root)
        else:
            source = [(r.path, split.label_map[r.label], r.metadata) for r in records]
        ds = en_data.pk_batches(
            source,
            s.P,
            s.K,
            size,
            augment=augment,
            camera_aware=s.camera_aware,
            tracklet_aware=s.tracklet_aware,
            seed=config.seed,
            batches_per_epoch=steps,
            singles=s.singles,
        )
        return ds, steps
    if s.kind == "random":
        steps = s.steps_per_epoch or max(1, len(records) // s.batch_size)
        ds = en_data.image_dataset(
            paths,
            labels,
            size,
            batch_size=s.batch_size,
            augment=augment,
            shuffle=True,
            seed=config.seed,
            drop_remainder=True,
            repeat=True,
        )
        return ds.take(steps), steps
    if s.kind == "pairs":
        steps = s.steps_per_epoch or max(1, len(records) // s.batch_size)
        ds = en_data.pair_dataset(
            paths,
            labels,
            size,
            batch_size=s.batch_size,
            positive_fraction=s.positive_fraction,
            seed=config.seed,
            augment=augment,
            batches_per_epoch=steps,
        )
        return ds, steps
    # triplets
    if split.train_triplets is not None:
        rows = len(split.train_triplets)
        steps = s.steps_per_epoch or max(1, math.ceil(rows / s.batch_size))
        ds = en_data.triplet_dataset(
            split.train_triplets,
            image_size=size,
            batch_size=s.batch_size,
            seed=config.seed,
            augment=augment,
        )
        return ds.repeat().take(steps), steps
    steps = s.steps_per_epoch or max(1, len(records) // s.batch_size)
    ds = en_data.triplet_dataset(
        paths,
        labels,
        image_size=size,
        batch_size=s.batch_size,
        seed=config.seed,
        augment=augment,
        batches_per_epoch=steps,
    )
    return ds, steps


def compile_model(
    config: TrainConfig,
    model,
    network,
    num_classes: int,
    steps_per_epoch: int,
    *,
    learning_rate: float | None = None,
    epochs: int | None = None,
    loss=None,
    time_budget: TimeBudget | None = None,
):
    """Compile ``model`` from the optimizer/schedule/loss sections; returns schedule callbacks.

    Args:
        config, model, network, num_classes, steps_per_epoch: the run's config, the model
            to compile, its embedding network, training identities, batches per epoch.
        learning_rate: peak learning rate; default ``optimizer.learning_rate``.
        epochs: epochs the schedule spans; default ``training.epochs`` (one phase of a
            fine-tuning run spans its own epochs).
        loss: the loss of ``model.kind: embedding``; default: a new one built from the
            ``loss`` section. Re-compiling pass the compiled loss (``model.loss``). A
            :class:`~embedding_net.models.ClassifierTrainingModel` holds its losses (and
            its class weights, kept across re-compiles) and takes none.
        time_budget: the run's :class:`~embedding_net.callbacks.TimeBudget`; required by
            ``schedule.span: time``.
    """
    from embedding_net.config.losses import build_loss
    from embedding_net.config.optimizers import build_optimizer, build_schedule

    peak = config.optimizer.learning_rate if learning_rate is None else learning_rate
    span = config.training.epochs if epochs is None else epochs
    lr, callbacks = build_schedule(
        config.schedule, peak, span, steps_per_epoch, time_budget=time_budget
    )
    optimizer = build_optimizer(config.optimizer, learning_rate=lr)
    from embedding_net.models import ClassifierTrainingModel

    kind = config.model.kind
    if isinstance(model, ClassifierTrainingModel):
        model.compile(optimizer=optimizer)
    elif kind == "embedding":
        if loss is None:
            try:
                loss = build_loss(config.loss, num_classes, network.embedding_dim, config.source)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        model.compile(optimizer=optimizer, loss=loss)
    elif kind == "siamese":
        model.compile(optimizer=optimizer, metrics=["accuracy"])
    else:
        model.compile(optimizer=optimizer)
    return callbacks


def _monitor(config: TrainConfig) -> tuple[str | None, str]:
    v = config.validation
    if v.protocol == "none":
        return None, v.mode
    name = v.monitor or f"val_{MAIN_METRIC[v.protocol]}"
    if not name.startswith("val_"):
        name = f"val_{name}"
    return name, v.mode


def save_network(network, path) -> None:
    """Save the embedding network alone, uncompiled: no optimizer, loss or loss weights, so
    :func:`embedding_net.load_model` (or ``keras.saving.load_model`` once the library's
    classes are imported) needs no custom objects.

    The copy is rebuilt from ``network.get_config()`` and its weights are taken from the
    trained network in order (the same config builds the same variables in the same order),
    never by variable path: Keras numbers auto-named layers per process, so the copy's paths
    may differ from the trained network's (``normalization_2/mean`` against
    ``normalization/mean`` in EfficientNet).

    Raises:
        ValueError: the rebuilt copy's variables differ from the trained network's in number
            or shape (the message names the first variable that differs).
    """
    clone = type(network).from_config(network.get_config())
    source, target = network.weights, clone.weights
    if len(source) != len(target):
        raise ValueError(
            f"save_network: the network rebuilt from its config has {len(target)} weights, "
            f"the trained network {len(source)}"
        )
    for copy, trained in zip(target, source):
        if tuple(copy.shape) != tuple(trained.shape):
            raise ValueError(
                f"save_network: weight {trained.path!r} of the trained network has shape "
                f"{tuple(trained.shape)}, the rebuilt network's {copy.path!r} "
                f"{tuple(copy.shape)}"
            )
        copy.assign(trained)
    clone.save(path)


class SaveError(RuntimeError):
    """Saving the outputs of a finished training run failed; the message names the file
    that could not be written, why, and where the trained model was kept."""


def save_trained(model, output: Path):
    """Write ``final.keras``, ``best.keras`` (``final.keras`` when no best was kept) and the
    inference copy ``network.keras`` of a trained model; returns the best embedding network.

    The trained model is written first, so it survives any later failure: when
    ``final.keras`` itself cannot be written, the weights go to ``final.weights.h5``.

    Raises:
        SaveError: a file could not be written; the message names it, the cause and the
            file that holds the trained model.
    """
    final = output / "final.keras"
    try:
        model.save(final)
    except Exception as error:
        weights = output / "final.weights.h5"
        model.save_weights(weights)
        raise SaveError(
            f"{final} could not be written ({type(error).__name__}: {error}); the trained "
            f"weights are kept in {weights} (load them with model.load_weights)"
        ) from error
    best_path = output / "best.keras"
    try:
        if not best_path.exists():
            shutil.copyfile(final, best_path)
        best = keras.saving.load_model(best_path, compile=False)
        best_network = _embedding_network(best)
        save_network(best_network, output / "network.keras")
    except Exception as error:
        raise SaveError(
            f"{output / 'network.keras'} could not be written from {best_path} "
            f"({type(error).__name__}: {error}); the trained model is kept in {final}"
        ) from error
    return best_network


def _embedding_network(model):
    return getattr(model, "network", model)


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
    """
    output = Path(output_dir or config.output_dir)
    _prepare_output(output, resume, overwrite)
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    if config.training.mixed_precision != "float32":
        keras.config.set_dtype_policy(config.training.mixed_precision)
    try:
        return _train(config, output, resume=resume)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _check_unfreeze_from(config: TrainConfig, network) -> None:
    """Fail before training when ``model.unfreeze_from`` names no layer of the backbone."""
    target = config.model.unfreeze_from
    names = [layer.name for layer in network.backbone.layers]
    where = f"{config.source or 'config'}: model.unfreeze_from"
    if isinstance(target, str) and target not in names:
        shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
        raise ConfigError(
            f"{where}: {target!r} is not a layer of the backbone {config.model.backbone!r} "
            f"(its layers: {shown})"
        )
    if isinstance(target, int) and target >= len(names):
        raise ConfigError(
            f"{where}: layer index {target} but the backbone {config.model.backbone!r} has "
            f"{len(names)} layers"
        )


def _check_resume_schedule(config: TrainConfig, output: Path) -> None:
    """Refuse to resume with another freeze/unfreeze schedule than the run's own: the
    backups hold the optimizer state of the phase they were written in."""
    import yaml

    path = output / "config.yaml"
    if not path.is_file():
        return
    saved = (yaml.safe_load(path.read_text()) or {}).get("model") or {}
    for key in ("freeze_epochs", "unfreeze_from"):
        before, now = saved.get(key), getattr(config.model, key)
        if before != now:
            raise ConfigError(
                f"{config.source or 'config'}: model.{key}: resume with {now!r}, but the run in "
                f"{output} was started with {before!r} (its backups hold the optimizer state "
                "of that schedule): keep the value, or train afresh with --overwrite"
            )


def _backup_epoch(backup: Path) -> int:
    """Epochs completed according to a ``BackupAndRestore`` folder (0 when it has none)."""
    metadata = backup / "training_metadata.json"
    if not metadata.is_file():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])


def _restore_backup(model, backup: Path) -> None:
    """Load weights and optimizer state of a ``BackupAndRestore`` folder (what the callback
    does at the start of ``fit``) without training."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(backup / "latest.weights.h5")


def _train(config: TrainConfig, output: Path, resume: bool = False) -> TrainingResult:
    records, triplets = list_records(config.data)
    split = split_records(records, triplets, config.data, split_seed(config))
    num_classes = len(split.label_map)
    if resume:
        _check_resume_schedule(config, output)
        if config.schedule.span == "time":
            raise ConfigError(
                f"{config.source or 'config'}: schedule.span: 'time' cannot resume (its "
                "learning rate follows the wall clock of the interrupted run): train afresh "
                "with --overwrite, or use span: epochs"
            )
    dump_config(config, output / "config.yaml")
    (output / "label_map.json").write_text(
        json.dumps({str(k): v for k, v in split.label_map.items()}, indent=1)
    )
    validation = build_validation_set(config, split)
    dataset, steps = build_train_dataset(config, split)
    model, network = build_model(config, num_classes)
    freeze_epochs = config.model.freeze_epochs
    if freeze_epochs is not None:
        _check_unfreeze_from(config, network)

    monitor, mode = _monitor(config)
    cb = config.callbacks
    time_budget = None
    if config.training.max_seconds is not None:
        time_budget = TimeBudget(
            config.training.max_seconds, mid_epoch=config.schedule.span == "time"
        )
    evaluation = None
    if validation is not None:
        evaluation = ProtocolEvaluation(
            network,
            validation,
            every=config.validation.every,
            epochs=config.training.epochs,
            batch_size=config.validation.batch_size,
            flip=config.validation.flip,
        )
    # one instance each for the whole run: the best value, the CSV columns carry across phases
    checkpoint = csv_logger = tensorboard = None
    if cb.save_best and monitor is not None:
        checkpoint = monitored.BestCheckpoint(
            str(output / "best.keras"), monitor=monitor, mode=mode, save_best_only=True
        )
    if cb.csv_log:
        csv_logger = _RunCSVLogger(output / "history.csv")
    if cb.tensorboard and importlib.util.find_spec("tensorboard") is None:
        logger.warning(
            "callbacks.tensorboard: the tensorboard package is not installed, no TensorBoard "
            "logs are written (pip install tensorboard); history.csv still records every epoch"
        )
    elif cb.tensorboard:
        tensorboard = keras.callbacks.TensorBoard(
            log_dir=str(output / "logs"), write_graph=False, profile_batch=0
        )

    def phase_callbacks(schedule_callbacks, backup: Path, early_stopping: bool) -> list:
        callbacks = [c for c in (time_budget, evaluation) if c is not None]
        # (the time budget first: a stop is seen by the evaluation)
        callbacks.extend(schedule_callbacks)
        callbacks.append(LearningRateLog())
        if cb.checkpoint_every_epoch:
            callbacks.append(keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False))
        if checkpoint is not None:
            callbacks.append(checkpoint)
        if early_stopping and cb.early_stopping_patience is not None and monitor is not None:
            callbacks.append(
                monitored.EarlyStopping(
                    monitor=monitor, mode=mode, patience=cb.early_stopping_patience
                )
            )
        callbacks.extend(c for c in (csv_logger, tensorboard) if c is not None)
        return callbacks

    def fit(first_epoch: int, end_epoch: int, callbacks: list):
        return model.fit(
            dataset,
            epochs=end_epoch,
            initial_epoch=first_epoch,
            callbacks=callbacks,
            verbose=config.training.verbose,
            shuffle=False,  # the tf.data pipelines shuffle (seeded) themselves
        )

    backup = output / "backup"
    histories = []
    start = time.monotonic()
    if freeze_epochs is None:
        schedule_callbacks = compile_model(
            config, model, network, num_classes, steps, time_budget=time_budget
        )
        histories.append(
            fit(0, config.training.epochs, phase_callbacks(schedule_callbacks, backup, True))
        )
    else:
        fine_tune_backup = backup / "fine_tune"
        if _backup_epoch(fine_tune_backup) == 0:
            # phase 1: the head learns, the backbone is frozen (BatchNorm in inference mode)
            schedule_callbacks = compile_model(
                config,
                model,
                network,
                num_classes,
                steps,
                epochs=freeze_epochs,
                time_budget=time_budget,
            )
            if _backup_epoch(backup) >= freeze_epochs:  # resumed after the frozen phase
                _restore_backup(model, backup)
            else:
                callbacks = phase_callbacks(schedule_callbacks, backup, False)
                histories.append(fit(0, freeze_epochs, callbacks))
        if time_budget is None or not time_budget.exhausted:
            # phase 2: unfreeze, re-compile (Keras fixes the trainable set at compile time)
            # with a fresh optimizer at the lower learning rate; the loss keeps its weights
            loss = model.loss if model.compiled else None
            network.unfreeze_backbone(config.model.unfreeze_from)
            model._initial_epoch = None  # set by phase 1's BackupAndRestore when resuming
            schedule_callbacks = compile_model(
                config,
                model,
                network,
                num_classes,
                steps,
                learning_rate=config.optimizer.learning_rate * config.optimizer.fine_tune_factor,
                epochs=config.training.epochs - freeze_epochs,
                loss=loss,
                time_budget=time_budget,
            )
            logger.info(
                "epoch %d: backbone unfrozen%s, learning rate x %g",
                freeze_epochs + 1,
                ""
                if config.model.unfreeze_from is None
                else f" from layer {config.model.unfreeze_from!r}",
                config.optimizer.fine_tune_factor,
            )
            callbacks = phase_callbacks(schedule_callbacks, fine_tune_backup, True)
            histories.append(fit(freeze_epochs, config.training.epochs, callbacks))
    seconds = time.monotonic() - start
    best_path = output / "best.keras"
    best_network = save_trained(model, output)

    metrics: dict = {}
    if validation is not None:
        metrics = evaluate_protocol(
            best_network,
            validation,
            batch_size=config.validation.batch_size,
            flip=config.validation.flip,
        )
    hist: dict = {}
    for history in histories:
        for key, values in history.history.items():
            hist.setdefault(key, []).extend(float(x) for x in values)
    epochs_run = sum(len(history.epoch) for history in histories)
    best_epoch = None
    evaluated = (
        [(e, m[monitor[4:]]) for e, m in getattr(evaluation, "evaluated", []) if monitor[4:] in m]
        if monitor is not None
        else []
    )
    if evaluated:
        values = np.asarray([v for _, v in evaluated])
        best = int(np.argmax(values) if mode == "max" else np.argmin(values))
        best_epoch = evaluated[best][0]
    summary = {
        "name": config.name,
        "protocol": config.validation.protocol,
        "monitor": monitor,
        "metrics": metrics,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "freeze_epochs": freeze_epochs,
        "fit_seconds": round(seconds, 1),
        "steps_per_epoch": steps,
        "num_train_images": len(split.train),
        "num_train_identities": num_classes,
        "num_val_images": len(split.val),
    }
    (output / "metrics.json").write_text(json.dumps(summary, indent=1))
    return TrainingResult(
        output_dir=output,
        metrics=metrics,
        history=hist,
        epochs_run=epochs_run,
        seconds=seconds,
        best_model=best_path,
        network=output / "network.keras",
    )
