"""Typed training configuration: one dataclass per YAML section, validated on load.

A config file is a YAML mapping of these sections (keys optional, dataclass defaults)::

    name: traffic_signs_small
    seed: 0
    output_dir: runs/traffic_signs_small
    data:         {layout, root, image_size, split, val_fraction, ...}     # DataConfig
    model:        {kind, backbone, embedding_dim, pooling, ...}            # ModelConfig
    loss:         {name, params, miner, miner_params, identity_loss, ...}  # LossConfig
    sampler:      {kind, P, K, batch_size, steps_per_epoch, ...}           # SamplerConfig
    augmentation: {preset, randaugment, ...}                               # AugmentationConfig
    optimizer:    {name, learning_rate, weight_decay, rectify, ...}        # OptimizerConfig
    schedule:     {name, warmup_epochs, min_learning_rate, ...}            # ScheduleConfig
    training:     {epochs, mixed_precision, ...}                           # TrainingConfig
    validation:   {protocol, monitor, mode, every, ...}                    # ValidationConfig
    callbacks:    {tensorboard, checkpoint_every_epoch, early_stopping_patience, ...}

Path fields may use ``${data}`` (the shared data root, ``data.locations.data_root``),
``${config_dir}`` (the YAML file's folder) and ``~``; other relative paths are relative to the
working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from embedding_net import constraints
from embedding_net.constraints import Bounds, OneOf, PositivePair, Rule, constrained
from embedding_net.data.datasets.registry import layout_names
from embedding_net.evaluation.protocols import PROTOCOLS as _PROTOCOL_REGISTRY

LAYOUTS = layout_names()
SPLITS = ("given", "identity", "tracklet", "none")
MODEL_KINDS = ("embedding", "siamese", "triplet")
SAMPLERS = ("pk", "random", "pairs", "triplets")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "reduce_on_plateau", "step")
PROTOCOLS = ("none", *_PROTOCOL_REGISTRY.names())
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")

AT_LEAST_1_OR_NULL, POSITIVE = Bounds(1, or_null=True), Bounds(0, low_inclusive=False)


@dataclass
class DataConfig:
    """Where the images are and how they are split into training and validation.

    Attributes:
        layout: how labels are read: ``folders`` (``root/<class>/*`` or ``root/train|val/<class>``),
            ``gtsrb`` (class folders + track ids), ``cuhk03`` / ``market`` / ``duke`` / ``mars``
            (re-id file names), ``lfw`` (person folders), ``triplets_csv`` (``root`` is a CSV of
            Anchor,Positive,Negative) or ``tfrecord`` (written by ``embedding-net tfrecord``).
        root: dataset folder (or CSV file); required.
        image_size: ``[height, width]`` images are resized to.
        split: validation hold-out: ``given`` (the ``train/`` and ``val/`` folders, or the
            TFRecord splits), ``identity`` (whole identities held out), ``tracklet`` (whole
            tracks / tracklets held out, identities shared: GTSRB), ``none``.
        val_fraction: fraction of identities (or tracks) held out; 0: final-training mode
            (``train --final``: every image trains, whatever ``split`` says; no validation).
        people_file: LFW people file restricting the people read (``layout: lfw``).
        pairs_file: LFW-format pairs file used for verification validation instead of pairs
            drawn from the held-out people.
        num_val_pairs: pairs drawn from held-out people for verification (half matched).
        max_identities: keep only this many identities (sorted, seeded choice); None keeps all.
        max_images_per_identity: keep at most this many images per identity; None keeps all.
        min_images_per_identity: leave training identities with fewer images out, after the
            hold-out split (held-out identities are kept); None keeps all.
        split_seed: seed of the hold-out split and of the validation set drawn from it;
            None: the top-level ``seed`` (fix it to compare seeds on the same held-out data).
    """

    root: str = constrained("", Rule(bool, "is required (the dataset folder, or the CSV file)"))
    layout: Literal[LAYOUTS] = "folders"  # type: ignore[valid-type]
    image_size: list[int] = constrained(
        check=PositivePair("height, width"), factory=lambda: [64, 64]
    )
    split: Literal[SPLITS] = "identity"  # type: ignore[valid-type]
    val_fraction: float = constrained(0.2, Bounds(0, 1))
    people_file: str | None = None
    pairs_file: str | None = None
    num_val_pairs: int = constrained(600, Bounds(2))
    max_identities: int | None = constrained(None, AT_LEAST_1_OR_NULL)
    max_images_per_identity: int | None = constrained(None, AT_LEAST_1_OR_NULL)
    min_images_per_identity: int | None = constrained(None, AT_LEAST_1_OR_NULL)
    split_seed: int | None = None


@dataclass
class ModelConfig:
    """The network: a :class:`~embedding_net.BaseNetwork`, optionally wrapped.

    Attributes:
        kind: ``embedding`` (the BaseNetwork trained with an in-batch loss on labelled
            batches), ``siamese`` (:class:`~embedding_net.SiameseModel` on pairs) or
            ``triplet`` (:class:`~embedding_net.TripletModel` on explicit triplets).
        backbone: a name from ``embedding_net.available_backbones()`` or a keras-hub handle
            (``dinov2_small``, ``hf://...``, a preset directory; docs/models.md).
        weights: None, ``imagenet`` or a local weights file (keras-hub: None or ``preset``).
        embedding_dim: embedding size.
        pooling: ``avg``, ``max`` or ``gem``.
        token_pooling: ``cls`` or ``mean`` (of the patch tokens): ViT-style backbones.
        pooling_grid: ``[rows, cols]`` cells pooled one by one and concatenated (``[2, 1]``:
            upper / lower stripes for re-id; ``[1, 1]``: global pooling).
        dropout: dropout before the embedding layer.
        neck: ``none``, ``batchnorm`` or ``bnneck``.
        normalize: L2-normalise the embeddings.
        freeze_backbone: train only the head, for the whole run (see ``freeze_epochs`` for
            a freeze-then-unfreeze schedule).
        freeze_epochs: fine-tuning schedule: train the head with the backbone frozen
            (BatchNorm in inference mode) for this many epochs, then unfreeze it and train
            on until ``training.epochs`` at the learning rate x ``optimizer.fine_tune_factor``;
            ``1 <= freeze_epochs < training.epochs``. None: no schedule.
        unfreeze_from: with ``freeze_epochs``: the backbone layer (name or index) from which
            layers become trainable; None: all. BatchNorm layers stay frozen in either case
            (:meth:`~embedding_net.BaseNetwork.unfreeze_backbone`).
        last_stride: 2 (the backbone's own) or 1 (no last down-sampling: ResNet18/34/50).
        width: width multiplier of the from-scratch backbones: ``round(filters * width)``
            filters per convolution (0.5: about a quarter of the multiply-adds).
        center_crop: ``[height, width]`` cropped from the centre of each image (read at
            ``data.image_size``) before the backbone, saved with the network (zooms in on a
            centred object: aligned faces). None: the whole image.
        preprocessing: ``none``, ``scale`` (x / 255), ``tf``, ``torch``, ``caffe`` or
            ``standardize`` (per image); None: the backbone family's own.
        head: siamese head: ``distance`` (contrastive) or ``merge``
            (``sigmoid(Dense(|e1 - e2|))`` with binary cross-entropy).
        distance: pair distance of siamese/triplet models: ``euclidean``, ``squared_euclidean``
            or ``angular`` (``1 - cos``; ``cosine`` is its deprecated spelling).
        margin: contrastive / triplet margin of siamese/triplet models.
        contrastive_weight: extra contrastive term of the merge head.
    """

    kind: Literal[MODEL_KINDS] = "embedding"  # type: ignore[valid-type]
    backbone: str = "simple_cnn"
    weights: str | None = None
    embedding_dim: int = constrained(128, constraints.EMBEDDING_DIM)
    pooling: Literal[constraints.POOLINGS] = "avg"  # type: ignore[valid-type]
    token_pooling: Literal["cls", "mean"] = "cls"
    pooling_grid: list[int] = constrained(check=PositivePair("rows, cols"), factory=lambda: [1, 1])
    dropout: float = constrained(0.0, constraints.DROPOUT)
    neck: Literal[constraints.NECKS] = "none"  # type: ignore[valid-type]
    normalize: bool = True
    freeze_backbone: bool = False
    freeze_epochs: int | None = None
    unfreeze_from: int | str | None = constrained(None, constraints.LAYER_INDEX)
    last_stride: Literal[1, 2] = 2
    width: float = constrained(1.0, Bounds(0, low_inclusive=False, finite=True))
    center_crop: list[int] | None = None
    preprocessing: (
        Literal["none", "scale", "tf", "torch", "caffe", "standardize"] | None  # type: ignore[valid-type]
    ) = None
    head: Literal["distance", "merge"] = "distance"
    distance: Literal["euclidean", "squared_euclidean", "angular", "cosine"] = "euclidean"
    margin: float = constrained(1.0, POSITIVE)
    contrastive_weight: float = 0.0


@dataclass
class LossConfig:
    """The loss of ``model.kind: embedding`` (siamese/triplet models bring theirs).

    A name with class weights (``arcface``, ``cosface``, ``proxy-anchor``, ...; as ``name`` or
    ``identity_loss``) or ``xbm`` trains a ``ClassifierTrainingModel`` whose head (or memory)
    holds them; any other name compiles the network with the in-batch loss.

    Attributes:
        name: a name from ``embedding_net.losses.available_losses()`` (e.g.
            ``batch-hard-triplet``, ``triplet-semihard``, ``multi-similarity``, ``arcface``).
        params: keyword arguments of the loss (e.g. ``{margin: 0.3}``); ``num_classes`` of
            the losses with class weights is filled in from the data.
        miner: optional miner name from ``embedding_net.miners.available_miners()``,
            passed to losses that take ``miner=``.
        miner_params: keyword arguments of the miner.
        identity_loss: optional classification loss added to the metric loss ("triplet +
            ID loss"): ``cosface``, ``arcface`` or any class-weight loss (``num_classes`` set).
        identity_params: keyword arguments of the identity loss.
        identity_weight: weight of the identity loss in the sum.
    """

    name: str = "batch-hard-triplet"
    params: dict[str, Any] = field(default_factory=dict)
    miner: str | None = None
    miner_params: dict[str, Any] = field(default_factory=dict)
    identity_loss: str | None = None
    identity_params: dict[str, Any] = field(default_factory=dict)
    identity_weight: float = 1.0


@dataclass
class SamplerConfig:
    """How training batches are drawn.

    Attributes:
        kind: ``pk`` (P identities x K images; in-batch losses), ``random`` (shuffled
            labelled images), ``pairs`` (balanced pairs for siamese models), ``triplets``
            (random triplets, or the CSV rows for ``layout: triplets_csv``).
        P: identities per P x K batch.
        K: images per identity in a P x K batch.
        batch_size: batch size of ``random`` / ``pairs`` / ``triplets``.
        positive_fraction: fraction of matched pairs in a ``pairs`` batch.
        camera_aware: spread the K images over cameras (re-id).
        tracklet_aware: spread the K images over tracklets (MARS, GTSRB tracks).
        steps_per_epoch: batches per epoch; None: one pass over the training images.
        singles: ``pk`` only: this many more images per batch, each of an identity with a
            single training image (negatives for every anchor); the P identities then come
            from those with two or more. Leave ``data.min_images_per_identity`` unset.
    """

    kind: Literal[SAMPLERS] = "pk"  # type: ignore[valid-type]
    P: int = 8
    K: int = constrained(4, Bounds(1))
    batch_size: int = constrained(32, Bounds(1))
    positive_fraction: float = constrained(0.5, Bounds(0, 1, high_inclusive=True))
    camera_aware: bool = False
    tracklet_aware: bool = False
    steps_per_epoch: int | None = constrained(None, AT_LEAST_1_OR_NULL)
    singles: int = constrained(0, Bounds(0))


@dataclass
class AugmentationConfig:
    """Training-time augmentation (``embedding_net.data.augmentation_pipeline``).

    Attributes:
        preset: None (no augmentation) or ``default``, ``reid``, ``faces``, ``signs``, ``flip``.
        randaugment: append Keras' RandAugment.
        erasing_probability: random-erasing probability (any preset); None: the preset's own.
        pad: reflect padding before the random crop of the ``reid`` preset.
    """

    preset: Literal["default", "reid", "faces", "signs", "flip"] | None = None
    randaugment: bool = False
    erasing_probability: float | None = None
    pad: int = 10


@dataclass
class OptimizerConfig:
    """The optimizer.

    Attributes:
        name: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
        learning_rate: peak learning rate.
        weight_decay: decoupled weight decay (``adamw``; ``sgd`` / ``adam`` when > 0).
        momentum, nesterov: SGD / RMSprop momentum; SGD Nesterov momentum.
        beta_1, beta_2, epsilon: Adam-family moments.
        rectify: RAdam variance rectification (``adam`` / ``adamw``; ``RectifiedAdam``).
        clipnorm: clip each gradient to this norm; None disables.
        fine_tune_factor: with ``model.freeze_epochs``: the peak learning rate of the fresh
            optimizer after the backbone is unfrozen, as a fraction of ``learning_rate``.
        backbone_lr_factor: the backbone's learning rate as a fraction of the head's (e.g.
            0.1 for a pretrained backbone; ``optimizers.scale_learning_rate``).
    """

    name: Literal[OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    learning_rate: float = constrained(1e-3, POSITIVE)
    weight_decay: float = constrained(0.0, Bounds(0))
    momentum: float = 0.9
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    rectify: bool = False
    clipnorm: float | None = None
    fine_tune_factor: float = constrained(0.1, Bounds(0, 1, False, high_inclusive=True))
    backbone_lr_factor: float = constrained(1.0, Bounds(0, 1, False, high_inclusive=True))


@dataclass
class ScheduleConfig:
    """Learning-rate schedule.

    Attributes:
        name: ``constant``; ``cosine`` (cosine decay to ``min_learning_rate``);
            ``warmup_cosine`` (linear warmup from ``warmup_start`` x lr over
            ``warmup_epochs``, then cosine decay); ``reduce_on_plateau`` (Keras'
            ReduceLROnPlateau on ``monitor``); ``step`` (x ``factor`` every ``step_epochs``).
        warmup_epochs: warmup length in epochs (``warmup_cosine``).
        warmup_start: learning rate at the start of the warmup, as a fraction of the peak.
        min_learning_rate: floor of cosine decay and of ReduceLROnPlateau.
        factor: multiplier of ``reduce_on_plateau`` and ``step``.
        patience: epochs without improvement before ``reduce_on_plateau`` acts.
        monitor: the log ReduceLROnPlateau watches (e.g. ``loss``, ``val_rank1``).
        mode: ``min`` or ``max`` for ``monitor``; ``auto`` guesses from its name.
        step_epochs: epochs between two ``step`` decays.
        span: what the ``cosine`` / ``warmup_cosine`` decay spans: ``epochs`` (the batches of
            ``training.epochs``) or ``time`` (the wall clock of ``training.max_seconds``, then
            required: ``min_learning_rate`` is reached as the budget ends; warmup counts batches).
    """

    name: Literal[SCHEDULES] = "constant"  # type: ignore[valid-type]
    warmup_epochs: float = constrained(0.0, Bounds(0))
    warmup_start: float = 0.1
    min_learning_rate: float = 0.0
    factor: float = constrained(0.1, Bounds(0, 1, low_inclusive=False))
    patience: int = 3
    monitor: str = "loss"
    mode: Literal["auto", "min", "max"] = "auto"
    step_epochs: int = constrained(10, Bounds(1))
    span: Literal["epochs", "time"] = "epochs"


@dataclass
class TrainingConfig:
    """The ``fit`` loop.

    Attributes:
        epochs: training epochs.
        mixed_precision: ``float32``, ``mixed_float16``, ``mixed_bfloat16``, ``auto`` (restored).
        verbose: Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.
        max_seconds: stop after the epoch in which this many seconds have passed; None: no limit.
    """

    epochs: int = constrained(10, Bounds(1))
    mixed_precision: Literal[PRECISIONS] = "float32"  # type: ignore[valid-type]
    verbose: int = constrained(2, OneOf((0, 1, 2)))
    max_seconds: float | None = constrained(None, Bounds(0, or_null=True))


@dataclass
class ValidationConfig:
    """Epoch-end evaluation on the held-out split; picks the best model.

    Attributes:
        protocol: ``none``; ``reid`` (query/gallery from held-out identities, CMC + mAP:
            ``val_rank1``, ``val_rank5``, ``val_mAP``); ``verification`` (held-out pairs,
            10-fold: ``val_pair_accuracy``, ``val_auc``, ``val_f1``); ``classification``
            (kNN top-1 of held-out images against the training images: ``val_knn_top1``).
        monitor: the log picking the best model (default: the protocol's main metric).
        mode: ``max`` or ``min`` for ``monitor``.
        every: evaluate every this many epochs (and after the last).
        max_gallery: at most this many training images (a seeded choice) as the kNN
            reference set of ``classification``.
        batch_size: images per forward pass when encoding.
        flip: embed an image as the normalised mean of its own and its mirror image's
            embeddings (faces, persons; not for signs).
        rerank: ``reid`` only: ``metrics.json`` adds k-reciprocal re-ranked ``reranked_<key>``
            metrics beside the plain ones; ``evaluate --config`` re-ranks by default. The
            epoch-end evaluations that pick the best model stay plain (seconds each).
    """

    protocol: Literal[PROTOCOLS] = "none"  # type: ignore[valid-type]
    monitor: str | None = None
    mode: Literal["max", "min"] = "max"
    every: int = constrained(1, Bounds(1))
    max_gallery: int | None = 20000
    batch_size: int = 128
    flip: bool = False
    rerank: bool = False


@dataclass
class CallbacksConfig:
    """Logging and checkpointing.

    Attributes:
        tensorboard: write TensorBoard logs to ``<output_dir>/logs``.
        checkpoint_every_epoch: back up weights + optimizer state every epoch to
            ``<output_dir>/backup`` (``embedding-net train --resume`` continues from it).
        save_best: save the best model by ``validation.monitor`` to ``best.keras``
            (without validation: the last model).
        early_stopping_patience: stop when ``validation.monitor`` has not improved for
            this many evaluations; None disables.
        csv_log: write ``<output_dir>/history.csv``.
    """

    tensorboard: bool = True
    checkpoint_every_epoch: bool = True
    save_best: bool = True
    early_stopping_patience: int | None = None
    csv_log: bool = True


@dataclass
class TrainConfig:
    """A whole training run (see the module docstring for the YAML layout).

    Attributes:
        name: run name (used in logs).
        seed: seed of every random choice (splits, samplers, weights).
        output_dir: folder receiving logs, checkpoints and the models.
        source: the YAML file this config was read from (set by :func:`load_config`).
    """

    data: DataConfig = field(default_factory=DataConfig)
    name: str = "run"
    seed: int = 0
    output_dir: str = "runs/run"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    source: str | None = None
