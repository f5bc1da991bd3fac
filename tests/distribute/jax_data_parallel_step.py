"""One SGD step on a global batch under the JAX backend: one device vs
``keras.distribution.DataParallel`` over 2 CPU devices.

Run as a script with ``KERAS_BACKEND=jax`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (set before JAX starts); prints a
JSON report.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from embedding_net.losses import get as get_loss  # noqa: E402
from embedding_net.models import BaseNetwork  # noqa: E402

GLOBAL_BATCH = 16


def build():
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(6, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(8, 3, name="c2"),
        ],
        name="tiny",
    )
    return BaseNetwork(backbone, embedding_dim=4, input_shape=(8, 8, 3))


def global_batch():
    """The shared global batch (16 images, 4 classes spread over both halves) and weights."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (GLOBAL_BATCH, 8, 8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 3] * 4, dtype="int32")
    return images, labels, build().get_weights()


def one_step(weights, images, labels, loss_name):
    net = build()
    net.set_weights(weights)
    net.compile(optimizer=keras.optimizers.SGD(0.1), loss=get_loss(loss_name))
    history = net.fit(images, labels, batch_size=GLOBAL_BATCH, epochs=1, verbose=0, shuffle=False)
    devices = {str(d) for v in net.trainable_variables for d in v.value.sharding.device_set}
    return history.history["loss"][0], net.get_weights(), len(devices)


def compare(loss_name):
    images, labels, weights = global_batch()
    keras.distribution.set_distribution(None)
    single_loss, single, single_devices = one_step(weights, images, labels, loss_name)
    distribution = keras.distribution.DataParallel(devices=jax.devices())
    # the rows of the global batch each device gets (fit shards its input this way)
    layout = distribution.get_data_layout(images.shape).backend_layout
    shard_rows = layout.shard_shape(images.shape)[0]
    keras.distribution.set_distribution(distribution)
    try:
        dist_loss, dist, dist_devices = one_step(weights, images, labels, loss_name)
    finally:
        keras.distribution.set_distribution(None)
    # what each device's half alone would give: the comparison is sensitive to the mining
    loss = get_loss(loss_name)
    embeddings = build()
    embeddings.set_weights(weights)
    halves = [
        float(keras.ops.mean(loss(labels[s], embeddings(images[s]))))
        for s in (slice(0, GLOBAL_BATCH // 2), slice(GLOBAL_BATCH // 2, None))
    ]
    single_delta = [w - w0 for w, w0 in zip(single, weights)]
    return {
        "loss": loss_name,
        "devices": len(jax.devices()),
        "shard_rows": shard_rows,
        "single_variable_devices": single_devices,
        "distributed_variable_devices": dist_devices,
        "single_loss": single_loss,
        "distributed_loss": dist_loss,
        "per_device_loss": float(np.mean(halves)),
        "max_update_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single, dist)),
        "update_scale": max(float(np.max(np.abs(d))) for d in single_delta),
        "weight_scale": max(float(np.max(np.abs(w))) for w in single),
    }


if __name__ == "__main__":
    print(json.dumps([compare(name) for name in sys.argv[1:] or ["batch-hard-triplet"]]))
