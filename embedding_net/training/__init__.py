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
  of the best model (what ``embedding-net encode/search/compare/evaluate`` load); ``preset/``:
  the same network as a preset directory (with the config and the held-out metrics);
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

The package reads in the order of a run:

* :mod:`~embedding_net.training.trainer`: :func:`train` itself, top to bottom;
* :mod:`~embedding_net.training.builders`: :func:`build_network`, :func:`build_model`,
  :func:`build_train_dataset` (one builder per ``sampler.kind`` in :data:`TRAIN_SAMPLERS`)
  and :func:`compile_model`;
* :mod:`~embedding_net.training.fine_tune`: the :class:`FineTunePlan` and its
  :class:`Phase` objects (freeze -> unfreeze -> re-compile);
* :mod:`~embedding_net.training.run_directory`: the :class:`RunDirectory` owning the
  outputs, the backups, resume checks and ``metrics.json``;
* :mod:`~embedding_net.training.run_callbacks`: the callbacks of a run
  (:class:`RunCallbacks`), shared by its phases;
* :mod:`~embedding_net.training.saving`: :func:`save_trained`, :func:`save_network`,
  :class:`SaveError`;
* :mod:`~embedding_net.training.repeats`: :func:`train_repeats`, the same config on ``k``
  seeded hold-out splits (mean +- sd in ``repeats.json``).

Final-training mode (``data.val_fraction: 0``, ``embedding-net train --final``): once the
config is chosen on held-out splits, it trains on every image of the training split with the
same schedule; the outputs are the same, without validation metrics.
"""

from embedding_net.callbacks import ProtocolEvaluation
from embedding_net.callbacks.run_logs import LearningRateLog
from embedding_net.training.builders import (
    TRAIN_SAMPLERS,
    build_model,
    build_network,
    build_train_dataset,
    compile_model,
)
from embedding_net.training.fine_tune import FineTunePlan, Phase
from embedding_net.training.repeats import RepeatsResult, train_repeats
from embedding_net.training.run_callbacks import RunCallbacks, monitor_of
from embedding_net.training.run_directory import RUN_OUTPUTS, RunDirectory
from embedding_net.training.saving import SaveError, save_network, save_trained
from embedding_net.training.trainer import TrainingResult, train

__all__ = [
    "RUN_OUTPUTS",
    "TRAIN_SAMPLERS",
    "FineTunePlan",
    "LearningRateLog",
    "Phase",
    "ProtocolEvaluation",
    "RepeatsResult",
    "RunCallbacks",
    "RunDirectory",
    "SaveError",
    "TrainingResult",
    "build_model",
    "build_network",
    "build_train_dataset",
    "compile_model",
    "monitor_of",
    "save_network",
    "save_trained",
    "train",
    "train_repeats",
]
