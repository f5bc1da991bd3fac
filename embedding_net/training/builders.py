"""Builders of a training run: the network, the model to fit, its training batches, compile.

Each takes the run's :class:`~embedding_net.config.TrainConfig` (and what the data gave:
the split, the number of training identities)::

    model, network = build_model(config, num_classes=len(split.label_map))
    dataset, steps = build_train_dataset(config, split)
    schedule_callbacks = compile_model(config, model, network, num_classes, steps)

``sampler.kind`` picks the training batches from :data:`TRAIN_SAMPLERS` (one builder per kind).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from embedding_net.callbacks.budget import TimeBudget
from embedding_net.config.loader import ConfigError
from embedding_net.config.records import SplitRecords
from embedding_net.config.schema import TrainConfig
from embedding_net.data.datasets.registry import get_layout


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
            token_pooling=m.token_pooling,
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
    from embedding_net.models import SiameseModel, TripletModel
    from embedding_net.training.losses import build_objective

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

    The dataset is infinite; ``steps_per_epoch`` is the number of batches of one epoch, to
    pass to ``fit(steps_per_epoch=...)``. Keras then keeps one iterator for the whole run
    instead of building a new one every epoch, which on CPU stalled some epochs for seconds
    before their first batch (``docs/benchmarks_training.md``). The P x K, pair and random
    triplet samplers' draws continue across epochs either way, so within one ``fit`` their
    batches are those of the per-epoch dataset; a later ``fit`` (the fine-tuning phase) skips
    what the first one's iterator had prefetched. The shuffled ``random`` images and CSV
    triplets now run on through their repeated passes instead of starting a new pass each
    epoch. The builder of ``sampler.kind`` comes from :data:`TRAIN_SAMPLERS`.
    """
    s, d = config.sampler, config.data
    augment = _augment(config)
    if not get_layout(d.layout).image_files and s.kind != "pk":
        raise ConfigError(
            f"{config.source or 'config'}: sampler.kind: layout {d.layout!r} trains with 'pk'"
        )
    return TRAIN_SAMPLERS[s.kind](config, split, augment)


def _pk_dataset(config: TrainConfig, split: SplitRecords, augment):
    """P identities x K images per batch (plus ``singles``): in-batch losses."""
    from embedding_net import data as en_data

    s, d = config.sampler, config.data
    records = split.train
    _check_pk_identities(config, split)
    steps = s.steps_per_epoch or max(1, len(records) // (s.P * s.K + s.singles))
    if not get_layout(d.layout).image_files:  # shards: the sampler reads them itself
        source = Path(d.root)
    else:
        source = [(r.path, split.label_map[r.label], r.metadata) for r in records]
    ds = en_data.pk_batches(
        source,
        s.P,
        s.K,
        tuple(d.image_size),
        augment=augment,
        camera_aware=s.camera_aware,
        tracklet_aware=s.tracklet_aware,
        seed=config.seed,
        batches_per_epoch=None,
        singles=s.singles,
    )
    return ds, steps


def _check_pk_identities(config: TrainConfig, split: SplitRecords) -> None:
    """Fail when the training split has too few identities for ``sampler.P`` / ``singles``."""
    s, d = config.sampler, config.data
    n_ids = len(split.label_map)
    if n_ids < s.P:
        raise ConfigError(
            f"{config.source or 'config'}: sampler.P: {s.P} identities per batch but the "
            f"training split holds {n_ids}"
        )
    if s.singles:
        counts = Counter(r.label for r in split.train)
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


def _labelled(split: SplitRecords) -> tuple[list, list]:
    """``(paths, integer labels)`` of the training records."""
    return [r.path for r in split.train], [split.label_map[r.label] for r in split.train]


def _random_dataset(config: TrainConfig, split: SplitRecords, augment):
    """Shuffled labelled images (``model.kind: embedding`` without P x K)."""
    from embedding_net import data as en_data

    s = config.sampler
    paths, labels = _labelled(split)
    steps = s.steps_per_epoch or max(1, len(split.train) // s.batch_size)
    ds = en_data.image_dataset(
        paths,
        labels,
        tuple(config.data.image_size),
        batch_size=s.batch_size,
        augment=augment,
        shuffle=True,
        seed=config.seed,
        drop_remainder=True,
        repeat=True,
    )
    return ds, steps


def _pairs_dataset(config: TrainConfig, split: SplitRecords, augment):
    """Balanced matched / unmatched pairs (``model.kind: siamese``)."""
    from embedding_net import data as en_data

    s = config.sampler
    paths, labels = _labelled(split)
    steps = s.steps_per_epoch or max(1, len(split.train) // s.batch_size)
    ds = en_data.pair_dataset(
        paths,
        labels,
        tuple(config.data.image_size),
        batch_size=s.batch_size,
        positive_fraction=s.positive_fraction,
        seed=config.seed,
        augment=augment,
        batches_per_epoch=None,
    )
    return ds, steps


def _triplets_dataset(config: TrainConfig, split: SplitRecords, augment):
    """The rows of a triplets CSV, or random triplets of labelled images
    (``model.kind: triplet``)."""
    from embedding_net import data as en_data

    s = config.sampler
    size = tuple(config.data.image_size)
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
        return ds.repeat(), steps
    paths, labels = _labelled(split)
    steps = s.steps_per_epoch or max(1, len(split.train) // s.batch_size)
    ds = en_data.triplet_dataset(
        paths,
        labels,
        image_size=size,
        batch_size=s.batch_size,
        seed=config.seed,
        augment=augment,
        batches_per_epoch=None,
    )
    return ds, steps


#: ``sampler.kind`` -> builder ``(config, split, augment) -> (dataset, steps_per_epoch)``
TRAIN_SAMPLERS = {
    "pk": _pk_dataset,
    "random": _random_dataset,
    "pairs": _pairs_dataset,
    "triplets": _triplets_dataset,
}


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
    from embedding_net.optimizers import build_optimizer, build_schedule
    from embedding_net.training.losses import build_loss

    peak = config.optimizer.learning_rate if learning_rate is None else learning_rate
    span = config.training.epochs if epochs is None else epochs
    lr, callbacks = build_schedule(
        config.schedule, peak, span, steps_per_epoch, time_budget=time_budget
    )
    optimizer = build_optimizer(config.optimizer, learning_rate=lr)
    if config.optimizer.backbone_lr_factor != 1 and network.backbone.trainable_variables:
        from embedding_net.optimizers import scale_learning_rate

        scale_learning_rate(
            optimizer, network.backbone.trainable_variables, config.optimizer.backbone_lr_factor
        )
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
