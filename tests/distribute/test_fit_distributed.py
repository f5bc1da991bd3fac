"""``fit_distributed`` in process: without a strategy it is plain ``fit``; its arguments are
checked. (Two replicas: ``test_mirrored.py``; two workers: ``test_multi_worker.py``.)"""

import logging

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.distribute training loop"
)

tf = pytest.importorskip("tensorflow")

from embedding_net.distribute import fit_distributed  # noqa: E402
from embedding_net.losses import BatchHardTripletLoss  # noqa: E402
from embedding_net.models import BaseNetwork  # noqa: E402


def tiny_net():
    backbone = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="c1")],
        name="tiny",
    )
    return BaseNetwork(backbone, embedding_dim=4, input_shape=(8, 8, 3))


def batches(n_batches=3, batch=8):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(n_batches * batch, 8, 8, 3)).astype("float32")
    labels = np.tile(np.arange(4, dtype="int32"), n_batches * batch // 4)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch, drop_remainder=True)


def compiled(weights=None):
    net = tiny_net()
    if weights is not None:
        net.set_weights(weights)
    net.compile(optimizer=keras.optimizers.SGD(0.05), loss=BatchHardTripletLoss(0.3))
    return net


def test_without_strategy_equals_fit():
    weights = tiny_net().get_weights()
    reference = compiled(weights)
    expected = reference.fit(batches(), epochs=2, verbose=0, shuffle=False)
    net = compiled(weights)
    history = fit_distributed(net, batches(), epochs=2)
    assert history is net.history
    assert history.epoch == [0, 1]
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)
    for got, want in zip(net.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert not np.allclose(net.get_weights()[0], weights[0])  # it did train


def test_steps_per_epoch_continues_one_iterator_and_callbacks_stop():
    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    stopper = StopAfterFirstEpoch()
    history = fit_distributed(
        compiled(), batches().repeat(), epochs=5, steps_per_epoch=2, callbacks=[stopper]
    )
    assert history.epoch == [0]
    assert stopper.batches == 2
    assert np.isfinite(history.history["loss"][0])


def test_dataset_running_out_stops_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="embedding_net.distribute"):
        history = fit_distributed(compiled(), batches(n_batches=3), epochs=3, steps_per_epoch=2)
    # epoch 1: 2 steps; epoch 2: 1 step, then the dataset is exhausted
    assert history.epoch == [0, 1]
    assert "ran out after 1 of 2 steps of epoch 2" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embedding_net.distribute"):
        history = fit_distributed(compiled(), batches(n_batches=4), epochs=3, steps_per_epoch=2)
    # out of data at the start of epoch 3: two full epochs recorded
    assert history.epoch == [0, 1]
    assert len(history.history["loss"]) == 2
    assert "ran out after 0 of 2 steps of epoch 3" in caplog.text


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"epochs": 1.5}, "epochs must be an integer >= 1"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be None or an integer >= 1"),
        ({"verbose": 3}, "verbose must be 0, 1 or 2"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_distributed(compiled(), batches(), **kwargs)


def test_dataset_must_be_tf_data_and_not_empty():
    with pytest.raises(ValueError, match="dataset must be a tf.data.Dataset of global batches"):
        fit_distributed(compiled(), np.zeros((8, 8, 8, 3)))
    with pytest.raises(ValueError, match="dataset yielded no batch"):
        fit_distributed(compiled(), batches().take(0))


def test_uncompiled_model_is_refused():
    with pytest.raises(ValueError, match="model must be compiled"):
        fit_distributed(tiny_net(), batches())


def test_variables_created_outside_the_strategy_are_refused():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        net = keras.Sequential([keras.layers.Dense(4)])  # not built yet
        net.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    net.build((None, 3))  # its variables are created outside the scope
    data = tf.data.Dataset.from_tensor_slices((np.zeros((4, 3)), np.zeros((4, 4)))).batch(2)
    with pytest.raises(ValueError, match=r"inside strategy.scope\(\)"):
        fit_distributed(net, data)
