"""Global-batch mining under data parallelism.

In-batch losses (semi-hard / batch-hard triplet, multi-similarity, ...) mine over the batch
they see. Under ``tf.distribute`` each replica sees only its slice of the global batch, so the
mined triplets, and hence loss and gradients, would differ from single-device training on the
same global batch. :func:`gather_global_batch` all-gathers labels, embeddings and sample
weights across replicas before the loss runs. Keras divides each replica's loss by the number
of replicas and the gradient of ``all_gather`` sums the upstream gradients over replicas, so
the summed variable gradients equal the single-device gradients of the global-batch loss.

Under the JAX backend with ``keras.distribution.DataParallel`` the train step is one program
over the global (sharded) batch, so in-batch mining is global with no gathering.

Layers that use batch statistics (BatchNormalization) still see per-replica batches unless
built with ``synchronized=True``.
"""

from __future__ import annotations

import keras


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
    return tuple(None if t is None else context.all_gather(t, axis=0) for t in tensors)
