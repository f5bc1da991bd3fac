"""Global-batch mining under data parallelism.

In-batch losses (semi-hard / batch-hard triplet, multi-similarity, ...) mine over the batch
they see. Under ``tf.distribute`` each replica sees only its slice of the global batch, so the
mined triplets, and hence loss and gradients, would differ from single-device training on the
same global batch. :func:`gather_global_batch` all-gathers labels, embeddings and sample
weights across replicas before the loss runs. Keras divides each replica's loss by the number
of replicas and the gradient of ``all_gather`` sums the upstream gradients over replicas, so
the summed variable gradients equal the single-device gradients of the global-batch loss.

Keras 3's own ``fit`` does not run under ``tf.distribute.MultiWorkerMirroredStrategy``
(Keras 3.15 / TF 2.21: its first batch is reduced across workers before the model is built,
and the step's scalar logs are reduced with ``axis=0``; keras-team/keras#20585).
:func:`fit_distributed` is the supported way to train there: a training loop that runs the
model's own ``train_step`` (loss, gradients, optimizer) under ``strategy.run`` on each
replica's slice of every global batch, so the gathered loss above applies unchanged. It works
under every ``tf.distribute`` strategy (and without one).

Under the JAX backend with ``keras.distribution.DataParallel`` the train step is one program
over the global (sharded) batch, so in-batch mining is global with no gathering: plain
``fit`` is right there.

Layers that use batch statistics (BatchNormalization) still see per-replica batches unless
built with ``synchronized=True``.
"""

from __future__ import annotations

import logging

import keras

logger = logging.getLogger(__name__)


def num_replicas_in_sync() -> int:
    """Replicas of the current ``tf.distribute`` strategy (1 outside one, or not on TF)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def gather_global_batch(*tensors):
    """All-gather each tensor along axis 0 across the replicas of the current strategy.

    Inside a replica context of a ``tf.distribute`` strategy with more than one replica the
    result is the global batch in replica order (the order ``tf.distribute`` split it in);
    anywhere else the tensors come back unchanged. ``None`` entries stay ``None``.
    """
    if keras.backend.backend() != "tensorflow":
        return tensors
    import tensorflow as tf

    if tf.distribute.in_cross_replica_context():
        return tensors
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return tensors
    strategy = context.strategy
    return tuple(
        None if t is None else context.all_gather(_placed(t, strategy), axis=0) for t in tensors
    )


def _placed(tensor, strategy):
    """``tensor`` with a device. ``all_gather`` sends each value to its own device, and under
    ``MultiWorkerMirroredStrategy`` with one device per worker the replica function runs in
    no device scope: its graph tensors have none ("destinations can not be empty")."""
    import tensorflow as tf

    devices = getattr(strategy.extended, "worker_devices", ())
    if getattr(tensor, "device", "") or len(devices) != 1:
        return tensor
    with tf.device(devices[0]):
        return tf.identity(tensor)


def fit_distributed(
    model,
    dataset,
    *,
    epochs: int = 1,
    steps_per_epoch: int | None = None,
    callbacks=None,
    verbose: int = 0,
):
    """Train ``model`` on global batches under its ``tf.distribute`` strategy, like ``fit``.

    Use it where ``model.fit`` does not run: ``tf.distribute.MultiWorkerMirroredStrategy``
    (every worker runs the same script with its own ``TF_CONFIG`` and the same dataset). Each
    global batch is split between the replicas (``strategy.experimental_distribute_dataset``:
    with several workers the dataset is auto-sharded, so give every worker the same
    dataset of GLOBAL batches); each replica runs ``model.train_step`` (the model's compiled
    loss, over the global batch for a :class:`~embedding_net.models.BaseNetwork` with
    ``global_batch_loss=True``, and its optimizer, whose gradients are summed over replicas).

    Args:
        model: a Keras model built and compiled inside ``strategy.scope()`` (its strategy
            is the one it was created under; outside any scope this is plain training).
        dataset: ``tf.data.Dataset`` of ``(x, y)`` or ``(x, y, sample_weight)`` global
            batches; use ``drop_remainder=True`` so every replica gets a slice of equal size.
        epochs: passes over ``dataset`` (or of ``steps_per_epoch`` batches), ``>= 1``.
        steps_per_epoch: batches per epoch; None: until ``dataset`` ends (required for a
            repeated dataset). With it one iterator runs on over the epochs, as in ``fit``.
        callbacks: Keras callbacks (their epoch and batch hooks run; ``model.stop_training``
            is honoured). Under several workers, let only the chief write files.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.

    Returns:
        ``keras.callbacks.History`` of the epoch logs (``loss`` and compiled metrics, the
        means over the epoch's global batches; the same on every worker).
    """
    tf = _tensorflow_for_fit()
    _check_fit_arguments(tf, dataset, epochs, steps_per_epoch, verbose)
    strategy = _checked_strategy(model)
    _build_for_training(model, strategy, dataset)
    distributed = strategy.experimental_distribute_dataset(dataset)
    train_step = _distributed_train_step(tf, model, strategy)
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    _run_epochs(
        model,
        train_step,
        distributed,
        callback_list,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
    )
    return model.history


def _tensorflow_for_fit():
    """The ``tensorflow`` module; ValueError on any other Keras backend."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "fit_distributed needs the tensorflow backend (tf.distribute); on "
            f"{keras.backend.backend()!r} use keras.distribution (DataParallel) and model.fit"
        )
    import tensorflow as tf

    return tf


def _check_fit_arguments(tf, dataset, epochs, steps_per_epoch, verbose) -> None:
    """Raise ValueError naming the first :func:`fit_distributed` argument that is wrong."""
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            f"dataset must be a tf.data.Dataset of global batches, got {type(dataset).__name__}"
        )
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool)
        or not isinstance(steps_per_epoch, int)
        or steps_per_epoch < 1
    ):
        raise ValueError(
            f"steps_per_epoch must be None or an integer >= 1, got {steps_per_epoch!r}"
        )
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")


def _checked_strategy(model):
    """The model's ``tf.distribute`` strategy, once the model is compiled inside its scope.

    Raises:
        ValueError: the model has no optimizer, or some of its variables were created
            outside the strategy's scope.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "model must be compiled (with an optimizer) before fit_distributed; build and "
            "compile it inside strategy.scope()"
        )
    strategy = model.distribute_strategy
    strays = [
        v.path
        for v in model.variables
        if not strategy.extended.variable_created_in_scope(v.value)  # the tf.Variable
    ]
    if strays:
        raise ValueError(
            f"model variables were not created under the model's strategy "
            f"({type(strategy).__name__}), e.g. {strays[:3]}: build and compile the model "
            "inside strategy.scope()"
        )
    return strategy


def _build_for_training(model, strategy, dataset) -> None:
    """Create the optimizer's (and compiled metrics') variables from ``dataset``'s first batch.

    They are created now, in cross-replica context, as ``fit`` does (Keras' own build step
    reduces the first batch across workers, which fails under MultiWorkerMirroredStrategy).

    Raises:
        ValueError: ``dataset`` yields no batch.
    """
    first = next(iter(dataset.take(1)), None)
    if first is None:
        raise ValueError("dataset yielded no batch: nothing to train on")
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(first)
    with strategy.scope():
        if not model.built:
            model(x, training=False)
        model.optimizer.build(model.trainable_variables)
        # one eager loss + metric pass builds the loss trackers and compiled metrics here;
        # their state is then reset so that the first real step starts from zero
        y_pred = model(x, training=False)
        model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        for metric in model.metrics:
            metric.reset_state()


def _distributed_train_step(tf, model, strategy):
    """A ``tf.function``: ``model.train_step`` on every replica's slice of one global batch.

    It returns each log (the replicas' metric results over their own slices) averaged over
    all replicas, as ``fit`` does; with the global-batch loss every replica reports the
    global loss.
    """

    def replica_logs(data):
        return model.train_step(data)

    @tf.function(reduce_retracing=True)
    def train_step(data):
        logs = strategy.run(replica_logs, args=(data,))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    return train_step


def _run_epochs(model, train_step, distributed, callback_list, *, epochs, steps_per_epoch):
    """The training loop of :func:`fit_distributed`, from ``on_train_begin`` to ``on_train_end``.

    Args:
        model: the model being trained (``model.stop_training`` is honoured).
        train_step: from :func:`_distributed_train_step`.
        distributed: the distributed dataset of global batches.
        callback_list: ``keras.callbacks.CallbackList`` (with the History callback).
        epochs: epochs to run at most.
        steps_per_epoch: steps per epoch, with one iterator over all epochs; None: a fresh
            iterator per epoch, run until it ends.
    """
    model.stop_training = False
    callback_list.on_train_begin()
    iterator = iter(distributed) if steps_per_epoch is not None else None
    logs = {}
    for epoch in range(epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        batches = iter(distributed) if iterator is None else iterator
        logs, step = _run_epoch(
            model,
            train_step,
            batches,
            callback_list,
            epoch=epoch,
            steps_per_epoch=steps_per_epoch,
            logs=logs,
        )
        if step == 0:  # the dataset ran out at the epoch's start: no epoch to record
            break
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)


def _run_epoch(model, train_step, batches, callback_list, *, epoch, steps_per_epoch, logs):
    """Run one epoch's steps with their batch callbacks.

    Args:
        model: the model being trained (its ``stop_training`` ends the epoch early).
        train_step: from :func:`_distributed_train_step`.
        batches: iterator over the distributed dataset (shared by all epochs when
            ``steps_per_epoch`` is given).
        callback_list: ``keras.callbacks.CallbackList``.
        epoch: 0-based epoch number (for the warning).
        steps_per_epoch: steps to run, or None: until ``batches`` ends.
        logs: the logs of the last step so far (returned when no step runs).

    Returns:
        ``(logs, steps)``: the last step's logs as floats and the number of steps run. A
        shared iterator that runs out sets ``model.stop_training`` (with a warning).
    """
    step = 0
    while steps_per_epoch is None or step < steps_per_epoch:
        try:
            data = next(batches)
        except StopIteration:
            if steps_per_epoch is not None:
                logger.warning(
                    "fit_distributed: the dataset ran out after %d of %d steps of epoch %d",
                    step,
                    steps_per_epoch,
                    epoch + 1,
                )
                model.stop_training = True
            break
        callback_list.on_train_batch_begin(step)
        logs = {name: float(value) for name, value in train_step(data).items()}
        callback_list.on_train_batch_end(step, logs)
        step += 1
        if model.stop_training:
            break
    return logs, step
