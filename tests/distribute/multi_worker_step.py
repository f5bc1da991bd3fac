"""One SGD step on a global batch: one device vs MultiWorkerMirroredStrategy over 2 workers.

Run as a script by each of two local worker processes, with ``TF_CONFIG`` naming the
worker (see ``test_multi_worker.py``); the strategy must be created before TensorFlow does
anything else. Each worker first trains the reference on the WHOLE global batch on its own
device (plain ``fit``), then the same step with the batch split between the two workers
(``fit_distributed``), with and without gathering; it prints a JSON report.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import tensorflow as tf  # noqa: E402

CollectiveImplementation = tf.distribute.experimental.CommunicationImplementation
strategy = tf.distribute.MultiWorkerMirroredStrategy(
    communication_options=tf.distribute.experimental.CommunicationOptions(
        implementation=CollectiveImplementation[os.environ.get("COLLECTIVES", "RING")]
    )
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from embedding_net.distribute import fit_distributed  # noqa: E402
from embedding_net.losses import get as get_loss  # noqa: E402
from embedding_net.models import BaseNetwork  # noqa: E402

GLOBAL_BATCH = 16


def build(global_batch_loss=True):
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(6, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(8, 3, name="c2"),
        ],
        name="tiny",
    )
    return BaseNetwork(
        backbone, embedding_dim=4, input_shape=(8, 8, 3), global_batch_loss=global_batch_loss
    )


def global_batch():
    """The shared global batch (16 images, 4 classes spread over both halves) and weights,
    the same on every worker (seeded)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (GLOBAL_BATCH, 8, 8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 3] * 4, dtype="int32")
    return images, labels, build().get_weights()


def dataset(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(
        GLOBAL_BATCH, drop_remainder=True
    )


def single_device_step(weights, images, labels, loss_name):
    net = build()
    net.set_weights(weights)
    net.compile(optimizer=keras.optimizers.SGD(0.1), loss=get_loss(loss_name))
    history = net.fit(dataset(images, labels), epochs=1, verbose=0, shuffle=False)
    return history.history["loss"][0], net.get_weights()


def multi_worker_step(weights, images, labels, loss_name, global_batch_loss=True):
    with strategy.scope():
        net = build(global_batch_loss)
        net.set_weights(weights)
        net.compile(optimizer=keras.optimizers.SGD(0.1), loss=get_loss(loss_name))
    history = fit_distributed(net, dataset(images, labels), epochs=1)
    return history.history["loss"][0], net.get_weights()


def compare(loss_name):
    images, labels, weights = global_batch()
    single_loss, single = single_device_step(weights, images, labels, loss_name)
    dist_loss, dist = multi_worker_step(weights, images, labels, loss_name)
    local_loss, local = multi_worker_step(weights, images, labels, loss_name, False)
    single_delta = [w - w0 for w, w0 in zip(single, weights)]

    def max_diff(updated):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(single, updated))

    return {
        "loss": loss_name,
        "replicas": strategy.num_replicas_in_sync,
        "single_loss": single_loss,
        "distributed_loss": dist_loss,
        "per_replica_loss": local_loss,
        "max_update_diff": max_diff(dist),
        "per_replica_update_diff": max_diff(local),
        "update_scale": max(float(np.max(np.abs(d))) for d in single_delta),
        "weights_checksum": float(sum(np.sum(w, dtype="float64") for w in dist)),
    }


if __name__ == "__main__":
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    reports = [compare(name) for name in sys.argv[1:] or ["triplet-semihard"]]
    print(json.dumps({"worker": task["index"], "reports": reports}))
