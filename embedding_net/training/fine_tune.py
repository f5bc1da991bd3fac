"""The phases of a run: one ``fit``, or a frozen phase then fine-tuning (``model.freeze_epochs``).

A :class:`FineTunePlan` lists the :class:`Phase` objects of a run. Each phase is compiled
afresh (Keras fixes the trainable set at compile time) with its own peak learning rate and
schedule span, backs up into its own folder and is fitted from its first epoch::

    plan = FineTunePlan.from_config(config, run)
    for phase in plan.pending():                 # phases a resumed run still has to do
        loss = plan.enter(phase, model, network)  # unfreeze before fine-tuning
        ...compile with phase.learning_rate over phase.epochs, fit phase.first_epoch..end_epoch

Freezing the backbone for the first phase is the network's own (``BaseNetwork(freeze_backbone=
True)``, built by :func:`~embedding_net.training.build_network`); ``enter`` unfreezes it
(from ``model.unfreeze_from``, BatchNorm layers stay frozen) and hands over the compiled loss,
so that a loss's own trained weights (ArcFace centres, proxies) carry into fine-tuning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from embedding_net.callbacks.backup import backup_epoch
from embedding_net.config.loader import ConfigError
from embedding_net.config.schema import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """One ``fit`` of a run.

    Attributes:
        name: ``train`` (a run without fine-tuning schedule), ``frozen`` or ``fine_tune``.
        first_epoch, end_epoch: the epochs it runs, ``first_epoch <= epoch < end_epoch``
            (numbered over the whole run).
        learning_rate: the peak learning rate of its optimizer.
        backup: its epoch backup folder.
        early_stopping: whether early stopping watches it.
        unfreeze: unfreeze the backbone before compiling it.
    """

    name: str
    first_epoch: int
    end_epoch: int
    learning_rate: float
    backup: Path
    early_stopping: bool = True
    unfreeze: bool = False

    @property
    def epochs(self) -> int:
        """Epochs the phase spans (what its learning-rate schedule spans)."""
        return self.end_epoch - self.first_epoch


@dataclass(frozen=True)
class FineTunePlan:
    """The phases of a run, in order, and where the backbone is unfrozen from.

    Attributes:
        phases: the :class:`Phase` objects.
        unfreeze_from: layer name or index of the backbone from which fine-tuning trains
            (None: the whole backbone).
        fine_tune_factor: the fine-tuning learning rate as a fraction of the first phase's.
    """

    phases: tuple[Phase, ...]
    unfreeze_from: int | str | None = None
    fine_tune_factor: float = 1.0

    @classmethod
    def from_config(cls, config: TrainConfig, run) -> FineTunePlan:
        """One ``train`` phase, or ``frozen`` (epochs ``1..model.freeze_epochs``, head
        only, no early stopping) then ``fine_tune`` (until ``training.epochs``, learning
        rate x ``optimizer.fine_tune_factor``); ``run`` is the
        :class:`~embedding_net.training.RunDirectory` holding the backups."""
        epochs, rate = config.training.epochs, config.optimizer.learning_rate
        frozen = config.model.freeze_epochs
        if frozen is None:
            return cls((Phase("train", 0, epochs, rate, run.phase_backup("train")),))
        factor = config.optimizer.fine_tune_factor
        phases = (
            Phase("frozen", 0, frozen, rate, run.phase_backup("frozen"), early_stopping=False),
            Phase(
                "fine_tune",
                frozen,
                epochs,
                rate * factor,
                run.phase_backup("fine_tune"),
                unfreeze=True,
            ),
        )
        return cls(phases, config.model.unfreeze_from, factor)

    def check(self, config: TrainConfig, network) -> None:
        """Fail before training when ``model.unfreeze_from`` names no layer of the backbone."""
        if not any(phase.unfreeze for phase in self.phases):
            return
        target = self.unfreeze_from
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

    def pending(self) -> list[Phase]:
        """The phases still to do: a phase whose successor has backed up an epoch is done
        (a run resumed inside fine-tuning does not compile or fit the frozen phase again)."""
        phases = self.phases
        start = max((i for i in range(1, len(phases)) if backup_epoch(phases[i].backup)), default=0)
        return list(phases[start:])

    def enter(self, phase: Phase, model, network):
        """Prepare the model for ``phase``; returns the loss to compile it with (None: a new
        one). Entering fine-tuning unfreezes the backbone and hands over the compiled loss,
        whose own weights are trained state."""
        if not phase.unfreeze:
            return None
        loss = model.loss if model.compiled else None
        network.unfreeze_backbone(self.unfreeze_from)
        logger.info(
            "epoch %d: backbone unfrozen%s, learning rate x %g",
            phase.first_epoch + 1,
            "" if self.unfreeze_from is None else f" from layer {self.unfreeze_from!r}",
            self.fine_tune_factor,
        )
        return loss

    def is_last(self, phase: Phase) -> bool:
        return phase == self.phases[-1]
