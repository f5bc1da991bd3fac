"""One SGD step on a global batch, single-device vs MirroredStrategy over 2 logical CPUs.

Run as a script (TF must configure its logical devices before anything else initialises it);
prints a JSON report.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from embedding_net.distribute import fit_distributed  # noqa: E402
from embedding_net.losses import get as get_loss  # noqa: E402
from embedding_net.models import BaseNetwork  # noqa: E402


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


def one_step(strategy, weights, images, labels, loss_name, global_batch_loss=True, fit=None):
    """One SGD step with ``net.fit`` (or ``fit(net, dataset)``) under ``strategy``."""
    with strategy.scope():
        net = build(global_batch_loss)
        net.set_weights(weights)
        net.compile(optimizer=keras.optimizers.SGD(0.1), loss=get_loss(loss_name))
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(labels))
    if fit is None:
        history = net.fit(ds, epochs=1, verbose=0, shuffle=False)
    else:
        history = fit(net, ds)
    return history.history["loss"][0], [w - w0 for w, w0 in zip(net.get_weights(), weights)]


def global_batch():
    """The shared global batch (16 images, 4 classes spread over both halves) and weights."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 8, 8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 3] * 4, dtype="int32")
    return images, labels, build().get_weights()


def compare(loss_name):
    images, labels, weights = global_batch()
    single_loss, single_delta = one_step(
        tf.distribute.get_strategy(), weights, images, labels, loss_name
    )
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dist_loss, dist_delta = one_step(mirrored, weights, images, labels, loss_name)
    local_loss, local_delta = one_step(mirrored, weights, images, labels, loss_name, False)
    loop_loss, loop_delta = one_step(
        mirrored, weights, images, labels, loss_name, fit=fit_distributed
    )
    max_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single_delta, dist_delta))
    loop_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single_delta, loop_delta))
    local_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single_delta, local_delta))
    scale = max(float(np.max(np.abs(a))) for a in single_delta)
    return {
        "loss": loss_name,
        "replicas": mirrored.num_replicas_in_sync,
        "single_loss": single_loss,
        "distributed_loss": dist_loss,
        "per_replica_loss": local_loss,
        "fit_distributed_loss": loop_loss,
        "fit_distributed_update_diff": loop_diff,
        "max_update_diff": max_diff,
        "per_replica_update_diff": local_diff,
        "update_scale": scale,
    }


if __name__ == "__main__":
    print(json.dumps([compare(name) for name in sys.argv[1:] or ["triplet-semihard"]]))
