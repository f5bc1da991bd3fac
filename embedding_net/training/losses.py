"""What a config's ``loss`` section trains with: :func:`build_objective` (losses, class head,
cross-batch memory) and :func:`build_loss` (a plain in-batch loss).

Names in ``loss.name`` / ``loss.identity_loss`` that own weights (``arcface``, ``cosface``,
``sub-center-arcface``, ``identity-softmax``, ``proxy-anchor``, ``proxy-nca``,
``softtriple``, ``center``: see :func:`embedding_net.heads.available_heads`) become a class
head; ``xbm`` becomes a cross-batch memory around its ``params.loss``. Training then wraps
the network in a :class:`~embedding_net.models.ClassifierTrainingModel`.

``WeightedLossSum`` is the deprecated name of :class:`embedding_net.losses.CombinedLoss`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import keras

from embedding_net.config.schema import LossConfig
from embedding_net.losses.combined import CombinedLoss, WeightedLossSum

__all__ = ["TrainingObjective", "WeightedLossSum", "build_loss", "build_objective", "loss_class"]

_XBM_PARAMS = ("loss", "loss_params", "memory_size", "memory_weight", "embedding_dim")


@dataclass
class TrainingObjective:
    """The parts of a ``loss`` section.

    Attributes:
        metric_loss: in-batch ``keras.losses.Loss`` on ``(labels, embeddings)``, or None.
        head: a class head (:mod:`embedding_net.heads`), or None.
        memory: a :class:`~embedding_net.losses.CrossBatchMemory` around ``metric_loss``.
        metric_weight, head_weight, memory_weight: as in
            :class:`~embedding_net.models.ClassifierTrainingModel`.
    """

    metric_loss: keras.losses.Loss | None = None
    head: keras.layers.Layer | None = None
    memory: keras.layers.Layer | None = None
    metric_weight: float = 1.0
    head_weight: float = 1.0
    memory_weight: float = 1.0

    @property
    def needs_training_model(self) -> bool:
        """Whether there are weights of its own (a head, a memory) to train with the network."""
        return self.head is not None or self.memory is not None

    def training_model(self, network):
        """The :class:`~embedding_net.models.ClassifierTrainingModel` of ``network``."""
        from embedding_net.models import ClassifierTrainingModel

        return ClassifierTrainingModel(
            network,
            self.head,
            metric_loss=self.metric_loss,
            memory=self.memory,
            head_weight=self.head_weight,
            metric_weight=self.metric_weight,
            memory_weight=self.memory_weight,
        )


def loss_class(name: str) -> type:
    """The loss class registered under ``name`` (``_`` may replace ``-``)."""
    from embedding_net.losses import available_losses
    from embedding_net.losses.base import LOSSES

    cls = LOSSES.lookup(name)
    if cls is not None:
        return cls
    raise ValueError(f"unknown loss {name!r}; expected one of {available_losses()}")


def _fill(cls, params: dict, **defaults) -> dict:
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = dict(params)
    for key, value in defaults.items():
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    return kwargs


def _make_head(cls, params, num_classes, embedding_dim, where, miner):
    if miner is not None:
        raise ValueError(f"{where}.miner: the class head {cls.__name__} takes no miner")
    kwargs = _fill(cls, params, num_classes=num_classes, embedding_dim=embedding_dim)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.params: {exc}") from None


def _make_memory(params, embedding_dim, where, miner):
    """``(inner loss, CrossBatchMemory, memory_weight)`` of an ``xbm`` entry."""
    from embedding_net.losses.xbm import CrossBatchMemory, resolve_reference_loss

    if miner is not None:
        raise ValueError(f"{where}.miner: loss 'xbm' takes no miner")
    unknown = sorted(set(params) - set(_XBM_PARAMS))
    if unknown:
        raise ValueError(
            f"{where}.params: unknown keys {unknown} for 'xbm'; expected {_XBM_PARAMS}"
        )
    size = params.get("memory_size", 1024)
    try:
        inner = resolve_reference_loss(params.get("loss"), params.get("loss_params"), "xbm")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"`memory_size` must be a positive int, got {size!r}")
        memory = CrossBatchMemory(size, dtype="float32")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.params: {exc}") from None
    memory.build((None, params.get("embedding_dim", embedding_dim)))
    return inner, memory, float(params.get("memory_weight", 1.0))


def _make(name: str, params: dict, num_classes: int, embedding_dim: int, where: str, miner=None):
    """``(kind, part)`` of one loss entry: ``("head", head)``, ``("xbm", (loss, memory,
    weight))`` or ``("loss", loss)``."""
    from embedding_net.heads import HEADS
    from embedding_net.registry import normalize_name

    head_cls = HEADS.lookup(name) if isinstance(name, str) else None
    if head_cls is not None:
        return "head", _make_head(head_cls, params, num_classes, embedding_dim, where, miner)
    if isinstance(name, str) and normalize_name(name) == "xbm":
        return "xbm", _make_memory(params, embedding_dim, where, miner)
    cls = loss_class(name)
    from embedding_net import heads
    from embedding_net.losses.parametric import ParametricLoss
    from embedding_net.losses.xbm import XBMLoss

    if issubclass(cls, XBMLoss):  # a deprecated class name: what it now trains with
        return "xbm", _make_memory(params, embedding_dim, where, miner)
    if issubclass(cls, ParametricLoss):
        head_cls = getattr(heads, cls.head_class)
        return "head", _make_head(head_cls, params, num_classes, embedding_dim, where, miner)
    kwargs = _fill(cls, params, num_classes=num_classes, embedding_dim=embedding_dim)
    if miner is not None:
        if "miner" not in inspect.signature(cls.__init__).parameters:
            raise ValueError(f"{where}.miner: loss {name!r} takes no miner")
        kwargs["miner"] = miner
    try:
        return "loss", cls(**kwargs)
    except (TypeError, ValueError) as exc:  # unknown or out-of-range parameters
        raise ValueError(f"{where}.params: {exc}") from None


def _entry(make, where: str, key: str):
    """``make()``; a ValueError whose message does not start with ``where`` is prefixed with
    ``key`` (the config key at fault)."""
    try:
        return make()
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(where) else f"{key}: {text}") from None


def build_objective(
    config: LossConfig, num_classes: int, embedding_dim: int, source: str | None = None
) -> TrainingObjective:
    """The losses, class head and memory of a ``loss`` section.

    ``name`` and ``identity_loss`` may each be a plain loss, a class head (at most one of the
    two) or, for ``name``, ``xbm``; ``identity_weight`` weighs the identity entry.

    Args:
        config: the loss section.
        num_classes: training identities (filled into heads).
        embedding_dim: embedding size (builds head weights and memory at once).
        source: config file named in errors.

    Raises:
        ValueError: unknown loss/miner name, bad parameters or combination; the message
            names the key.
    """
    from embedding_net.miners import get_miner

    where = f"{source}: loss" if source else "loss"
    try:
        miner = get_miner(config.miner, **config.miner_params) if config.miner else None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}.miner: {exc}") from None
    kind, main = _entry(
        lambda: _make(config.name, config.params, num_classes, embedding_dim, where, miner),
        where,
        f"{where}.name",
    )
    objective = TrainingObjective()
    if kind == "head":
        objective.head = main
    elif kind == "xbm":
        objective.metric_loss, objective.memory, objective.memory_weight = main
    else:
        objective.metric_loss = main
    if config.identity_loss is None:
        return objective
    id_where = f"{where}.identity"
    id_kind, identity = _entry(
        lambda: _make(
            config.identity_loss, config.identity_params, num_classes, embedding_dim, id_where
        ),
        id_where,
        f"{where}.identity_loss",
    )
    return _add_identity(objective, id_kind, identity, config, where)


def _add_identity(objective, kind, identity, config, where) -> TrainingObjective:
    weight = float(config.identity_weight)
    if kind == "xbm":
        raise ValueError(f"{where}.identity_loss: 'xbm' can only be the main loss (loss.name)")
    if kind == "head":
        if objective.head is not None:
            raise ValueError(
                f"{where}.identity_loss: {config.identity_loss!r} has class weights, and so "
                f"has loss.name {config.name!r}: at most one class head is supported"
            )
        objective.head, objective.head_weight = identity, weight
    elif objective.memory is not None:
        raise ValueError(
            f"{where}.identity_loss: with loss.name 'xbm' the identity loss must be a class "
            f"head ({', '.join(_head_names())}), got {config.identity_loss!r}"
        )
    elif objective.metric_loss is None:
        objective.metric_loss, objective.metric_weight = identity, weight
    else:
        objective.metric_loss = CombinedLoss([objective.metric_loss, identity], [1.0, weight])
    return objective


def _head_names() -> list[str]:
    from embedding_net.heads import available_heads

    return available_heads()


def build_loss(config: LossConfig, num_classes: int, embedding_dim: int, source: str | None = None):
    """The in-batch loss of a ``loss`` section without weights of its own.

    Returns:
        a ``keras.losses.Loss`` (a :class:`~embedding_net.losses.CombinedLoss` when a plain
        ``identity_loss`` is set).

    Raises:
        ValueError: see :func:`build_objective`; also when the section has a class head or
            ``xbm``: those train through :func:`build_objective` and
            :class:`~embedding_net.models.ClassifierTrainingModel`.
    """
    objective = build_objective(config, num_classes, embedding_dim, source)
    if objective.needs_training_model:
        where = f"{source}: loss" if source else "loss"
        raise ValueError(
            f"{where}: {config.name!r}"
            + (f" + {config.identity_loss!r}" if config.identity_loss else "")
            + " has weights of its own (a class head or a cross-batch memory): build it with "
            "build_objective(...).training_model(network), a ClassifierTrainingModel"
        )
    return objective.metric_loss
