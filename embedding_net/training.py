"""Train from a config: data + model + compile + fit, with logs, checkpoints and resume.

:func:`train` turns a :class:`~embedding_net.config.TrainConfig` into a trained model::

    from embedding_net.config import load_config
    from embedding_net.training import train

    result = train(load_config("examples/traffic_signs/small.yaml"))
    result.metrics            # {"knn_top1": ..., ...} of the best model on held-out images

It writes into ``output_dir``:

* ``config.yaml``: the resolved config; ``label_map.json``: training identities -> ids;
* ``logs/``: TensorBoard (``tensorboard --logdir <output_dir>/logs``);
* ``backup/``: weights + optimizer state + epoch after every epoch (``resume=True`` continues);
* ``best.keras``: the best model by ``validation.monitor`` (the last one without validation);
  ``final.keras``: the model after the last epoch; ``network.keras``: the embedding network
  of the best model (what ``embedding-net encode/search/compare/evaluate`` load);
* ``history.csv`` and ``metrics.json`` (validation metrics of the best model, timings).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from embedding_net.config.loader import ConfigError, dump_config
from embedding_net.config.records import SplitRecords, list_records, split_records
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
        history: ``{log name: [value per epoch]}`` of this ``fit`` call.
        epochs_run: epochs run by this call (fewer after a resume or a time budget stop).
        seconds: wall time of ``fit``.
        best_model: path of ``best.keras``; network: path of ``network.keras``.
    """

    output_dir: Path
    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    seconds: float = 0.0
    best_model: Path | None = None
    network: Path | None = None


class TimeBudget(keras.callbacks.Callback):
    """Stop training at the end of the epoch during which ``max_seconds`` have passed."""

    def __init__(self, max_seconds: float):
        super().__init__()
        self.max_seconds = float(max_seconds)
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() - self._start >= self.max_seconds:
            logger.info("time budget of %.0f s reached after epoch %d", self.max_seconds, epoch + 1)
            self.model.stop_training = True


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
            dropout=m.dropout,
            neck=m.neck,
            normalize=m.normalize,
            weights=m.weights,
            freeze_backbone=m.freeze_backbone,
            last_stride=m.last_stride,
        )
    except ValueError as exc:
        raise ConfigError(f"{config.source or 'config'}: model: {exc}") from None


def build_model(config: TrainConfig, num_classes: int):
    """``(model to fit, embedding network)`` for ``model.kind``; the model is not compiled."""
    from embedding_net.models import SiameseModel, TripletModel

    network = build_network(config)
    m = config.model
    h_w = config.data.image_size
    if m.kind == "siamese":
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
        model(tuple([dummy] * (2 if m.kind == "siamese" else 3)), training=False)
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
        steps = s.steps_per_epoch or max(1, len(records) // (s.P * s.K))
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


def compile_model(config: TrainConfig, model, network, num_classes: int, steps_per_epoch: int):
    """Compile ``model`` from the optimizer/schedule/loss sections; returns schedule callbacks."""
    from embedding_net.config.losses import build_loss
    from embedding_net.config.optimizers import build_optimizer, build_schedule

    lr, callbacks = build_schedule(
        config.schedule, config.optimizer.learning_rate, config.training.epochs, steps_per_epoch
    )
    optimizer = build_optimizer(config.optimizer, learning_rate=lr)
    kind = config.model.kind
    if kind == "embedding":
        try:
            loss = build_loss(config.loss, num_classes, network.embedding_dim, config.source)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        model.compile(optimizer=optimizer, loss=loss)  # attaches ParametricLoss weights
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
    ``keras.saving.load_model(path)`` needs nothing but ``import embedding_net``."""
    clone = type(network).from_config(network.get_config())
    source = {v.path: v for v in network.weights}
    for variable in clone.weights:
        if variable.path not in source:
            raise ValueError(f"save_network: no weight {variable.path!r} in the trained network")
        variable.assign(source[variable.path])
    clone.save(path)


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
        return _train(config, output)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(config: TrainConfig, output: Path) -> TrainingResult:
    records, triplets = list_records(config.data)
    split = split_records(records, triplets, config.data, config.seed)
    num_classes = len(split.label_map)
    dump_config(config, output / "config.yaml")
    (output / "label_map.json").write_text(
        json.dumps({str(k): v for k, v in split.label_map.items()}, indent=1)
    )
    validation = build_validation_set(config, split)
    dataset, steps = build_train_dataset(config, split)
    model, network = build_model(config, num_classes)
    schedule_callbacks = compile_model(config, model, network, num_classes, steps)

    monitor, mode = _monitor(config)
    cb = config.callbacks
    callbacks: list = []
    if config.training.max_seconds is not None:  # first: a stop is seen by the evaluation
        callbacks.append(TimeBudget(config.training.max_seconds))
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
        callbacks.append(evaluation)
    callbacks.extend(schedule_callbacks)
    if cb.checkpoint_every_epoch:
        callbacks.append(
            keras.callbacks.BackupAndRestore(str(output / "backup"), delete_checkpoint=False)
        )
    if cb.save_best and monitor is not None:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(output / "best.keras"), monitor=monitor, mode=mode, save_best_only=True
            )
        )
    if cb.early_stopping_patience is not None and monitor is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=cb.early_stopping_patience
            )
        )
    if cb.csv_log:
        callbacks.append(keras.callbacks.CSVLogger(str(output / "history.csv"), append=True))
    if cb.tensorboard and importlib.util.find_spec("tensorboard") is None:
        logger.warning(
            "callbacks.tensorboard: the tensorboard package is not installed, no TensorBoard "
            "logs are written (pip install tensorboard); history.csv still records every epoch"
        )
    elif cb.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=str(output / "logs"), write_graph=False, profile_batch=0
            )
        )

    start = time.monotonic()
    history = model.fit(
        dataset,
        epochs=config.training.epochs,
        callbacks=callbacks,
        verbose=config.training.verbose,
        shuffle=False,  # the tf.data pipelines shuffle (seeded) themselves
    )
    seconds = time.monotonic() - start
    model.save(output / "final.keras")
    best_path = output / "best.keras"
    if not best_path.exists():
        shutil.copyfile(output / "final.keras", best_path)
    best = keras.saving.load_model(best_path)
    best_network = _embedding_network(best)
    save_network(best_network, output / "network.keras")

    metrics: dict = {}
    if validation is not None:
        metrics = evaluate_protocol(
            best_network,
            validation,
            batch_size=config.validation.batch_size,
            flip=config.validation.flip,
        )
    hist = {k: [float(x) for x in v] for k, v in history.history.items()}
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
        "epochs_run": len(history.epoch),
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
        epochs_run=len(history.epoch),
        seconds=seconds,
        best_model=best_path,
        network=output / "network.keras",
    )
