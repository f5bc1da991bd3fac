"""ClassifierTrainingModel: class heads and a cross-batch memory as layers of a training model
around the network; trained by the optimizer, restored by plain ``keras.saving.load_model``."""

import logging
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from embedding_net import heads, losses
from embedding_net.models import BaseNetwork, ClassifierTrainingModel
from tests.losses import modern_reference as ref
from tests.models.helpers import class_images, edit_saved_config


def _net():
    return BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable).copy()


def _round_trip(model, tmp_path, images):
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # plain Keras, safe mode, no custom objects
    assert type(loaded) is ClassifierTrainingModel
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))
    return loaded, path


def test_cosface_head_trains_and_round_trips_with_plain_load_model(tmp_path):
    images, labels = class_images(num_classes=4, per_class=6)
    model = ClassifierTrainingModel(
        _net(), heads.CosFaceHead(4, scale=16.0), metric_loss=losses.BatchHardTripletLoss()
    )
    assert tuple(model.head.weight_matrix.shape) == (4, 8)  # built from the network's output
    assert any(v is model.head.weight_matrix for v in model.trainable_variables)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = _numpy(model.head.weight_matrix)
    history = model.fit(images, labels, epochs=3, batch_size=12, verbose=0, shuffle=False)
    assert {"loss", "head_loss", "metric_loss"} <= set(history.history)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(
        history.history["loss"],
        np.add(history.history["head_loss"], history.history["metric_loss"]),
        rtol=1e-5,
    )
    assert np.abs(_numpy(model.head.weight_matrix) - before).max() > 1e-4
    loaded, _ = _round_trip(model, tmp_path, images)
    assert isinstance(loaded.head, heads.CosFaceHead) and loaded.head.scale == 16.0
    assert isinstance(loaded.metric_loss, losses.BatchHardTripletLoss)
    np.testing.assert_array_equal(
        _numpy(loaded.head.weight_matrix), _numpy(model.head.weight_matrix)
    )
    np.testing.assert_allclose(
        loaded.evaluate(images, labels, verbose=0),
        model.evaluate(images, labels, verbose=0),
        rtol=1e-5,
    )
    assert type(loaded.optimizer) is keras.optimizers.SGD
    loaded.fit(images, labels, epochs=1, batch_size=12, verbose=0)  # trains on
    # inference: the network alone
    loaded.network.save(tmp_path / "network.keras")
    network = keras.saving.load_model(tmp_path / "network.keras")
    np.testing.assert_allclose(network.encode(images), loaded.encode(images), atol=1e-6)


def test_the_loss_equals_the_deprecated_classes(tmp_path):
    images, labels = class_images(num_classes=4, per_class=4)
    net = _net()
    head = heads.ProxyAnchorHead(4, alpha=16.0)
    model = ClassifierTrainingModel(
        net, head, metric_loss=losses.MultiSimilarityLoss(), head_weight=0.5, metric_weight=2.0
    )
    emb = net.predict(images, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = losses.ProxyAnchorLoss(4, 8, alpha=16.0)
    old.layer.set_weights(head.get_weights())
    y = labels.astype("float32")
    expected = 2.0 * float(losses.MultiSimilarityLoss()(y, emb)) + 0.5 * float(old(y, emb))
    got = float(model.compute_loss(images, y, keras.ops.convert_to_tensor(emb), training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    weights = np.linspace(0.5, 1.5, len(labels)).astype("float32")
    got = model.compute_loss(images, y, emb, sample_weight=weights, training=False)
    expected = 2.0 * float(losses.MultiSimilarityLoss()(y, emb, sample_weight=weights))
    expected += 0.5 * float(old(y, emb, sample_weight=weights))
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)


def test_proxy_head_round_trip(tmp_path):
    images, labels = class_images(num_classes=4, per_class=6)
    model = ClassifierTrainingModel(_net(), heads.ProxyNCAHead(4, scale=3.0))
    model.compile(optimizer="adam")
    before = _numpy(model.head.weight_matrix)
    model.fit(images, labels, epochs=2, batch_size=12, verbose=0)
    assert np.abs(_numpy(model.head.weight_matrix) - before).max() > 1e-4
    loaded, _ = _round_trip(model, tmp_path, images)
    assert loaded.metric_loss is None and loaded.head.scale == 3.0


def test_memory_matches_the_reference_and_is_carried_between_steps(tmp_path):
    # 4 steps of 8 into 20 slots: pointer 32 mod 20 = 12, every slot written (any backend:
    # the memory is non-trainable state of the model, which JAX's trainer carries)
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), 8)
    x = (rng.normal(size=(4, 6))[labels] + 0.3 * rng.normal(size=(32, 6))).astype("float32")
    inputs = keras.Input((6,))
    network = keras.Model(inputs, keras.layers.Dense(5)(inputs))
    memory = losses.CrossBatchMemory(20)
    model = ClassifierTrainingModel(
        network, metric_loss=losses.MultiSimilarityLoss(), memory=memory, memory_weight=0.5
    )
    assert tuple(memory.embeddings.shape) == (20, 5)
    assert all(any(v is w for w in model.non_trainable_variables) for v in memory.weights)
    model.compile(optimizer="adam")
    model.fit(x, labels.astype("float32"), batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(ref.to_numpy(memory.pointer)) == 12
    np.testing.assert_array_equal(
        ref.to_numpy(memory.labels), np.concatenate([labels[20:32], labels[12:20]])
    )
    emb = model.predict(x, verbose=0)
    np.testing.assert_allclose(ref.to_numpy(memory.embeddings)[12:], emb[12:20], atol=0.2)
    # the value with a full memory, against the numpy reference
    batch_labels, batch = labels[:8], emb[:8]
    mem = (ref.to_numpy(memory.labels).astype(int), ref.to_numpy(memory.embeddings))
    want = ref.multi_similarity(batch_labels, batch) + 0.5 * ref.multi_similarity(
        batch_labels, batch, ref=(mem[0], mem[1], np.ones(20, bool))
    )
    got = model.compute_loss(x[:8], batch_labels.astype("float32"), batch, training=False)
    np.testing.assert_allclose(float(got), want.mean(), rtol=1e-4)
    assert int(ref.to_numpy(memory.pointer)) == 12  # evaluation does not enqueue
    # round trip: the memory's contents come back
    model.save(tmp_path / "xbm.keras")
    loaded = keras.saving.load_model(tmp_path / "xbm.keras")
    for a, b in zip(loaded.memory.weights, memory.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), emb, atol=1e-6)


FRESH = """
import sys, numpy as np, keras
import embedding_net  # registers every class, Keras being loaded
model = keras.saving.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
np.save(sys.argv[4], keras.ops.convert_to_numpy(model.head.weight_matrix))
"""


def test_a_saved_cosface_model_loads_in_a_fresh_process(tmp_path):
    """Plain ``keras.saving.load_model`` after ``import embedding_net`` (Keras loaded first);
    without the import the same script fails, so the check can fail."""
    images, labels = class_images(num_classes=3, per_class=4)
    model = ClassifierTrainingModel(_net(), heads.CosFaceHead(3))
    model.compile(optimizer="adam")
    model.fit(images, labels, epochs=1, batch_size=12, verbose=0)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", images)
    out = [tmp_path / "e.npy", tmp_path / "w.npy"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [str(tmp_path / "m.keras"), str(tmp_path / "x.npy")] + [str(p) for p in out]

    def run(script):
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    done = run(FRESH)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(out[0]), model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(np.load(out[1]), _numpy(model.head.weight_matrix))
    without = run(FRESH.replace("import embedding_net  #", "#"))
    assert without.returncode != 0 and "ClassifierTrainingModel" in without.stderr


def test_validation():
    net = _net()
    with pytest.raises(ValueError, match="give a `head`, a `metric_loss`"):
        ClassifierTrainingModel(net)
    with pytest.raises(ValueError, match="keras.Model"):
        ClassifierTrainingModel("net", heads.CosFaceHead(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = losses.CosFaceLoss(3)
    with pytest.raises(ValueError, match=r"deprecated loss CosFaceLoss.*\.layer"):
        ClassifierTrainingModel(net, old)
    with pytest.raises(ValueError, match="`metric_loss` holds CosFaceLoss"):
        ClassifierTrainingModel(net, metric_loss=losses.CombinedLoss([old]))
    with pytest.raises(ValueError, match="ClassHead"):
        ClassifierTrainingModel(net, keras.layers.Dense(3))
    with pytest.raises(ValueError, match="a `memory` extends `metric_loss`"):
        ClassifierTrainingModel(net, heads.CosFaceHead(3), memory=losses.CrossBatchMemory(8))
    with pytest.raises(ValueError, match="reference set"):
        ClassifierTrainingModel(
            net, metric_loss=keras.losses.MeanSquaredError(), memory=losses.CrossBatchMemory(8)
        )
    with pytest.raises(ValueError, match="head_weight"):
        ClassifierTrainingModel(net, heads.CosFaceHead(3), head_weight=-1.0)
    model = ClassifierTrainingModel(net, heads.CosFaceHead(3))
    with pytest.raises(ValueError, match="without loss="):
        model.compile(optimizer="adam", loss="mse")
    small = ClassifierTrainingModel(
        net, metric_loss=losses.CircleLoss(), memory=losses.CrossBatchMemory(4)
    )
    with pytest.raises(ValueError, match="exceeds `memory_size` 4"):
        small.compute_loss(None, np.zeros(6), np.zeros((6, 8), "float32"))


def test_a_subclassed_network_needs_a_built_head():
    class Embedder(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="embedding size is unknown"):
        ClassifierTrainingModel(Embedder(), heads.CosFaceHead(3))
    model = ClassifierTrainingModel(Embedder(), heads.CosFaceHead(3, 4))
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    history = model.fit(x, np.arange(6) % 3, epochs=1, batch_size=6, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_base_network_refuses_a_loss_with_class_weights_and_old_files_still_load(tmp_path, caplog):
    images, _ = class_images(num_classes=2, per_class=2)
    net = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = losses.ArcFaceLoss(2, 8)
        combined = losses.CombinedLoss([losses.BatchHardTripletLoss(), losses.CenterLoss(2)])
    for loss in (old, combined, [old]):
        with pytest.raises(ValueError, match="ClassifierTrainingModel"):
            net.compile(optimizer="adam", loss=loss)
    # a file written when BaseNetwork attached such a loss: the network loads, uncompiled
    net.compile(optimizer="adam", loss=losses.TripletSemiHardLoss())
    net.save(tmp_path / "old.keras")

    def as_before(config):
        config["compile_config"]["loss"] = keras.losses.serialize(old)

    edit_saved_config(tmp_path / "old.keras", as_before)
    with caplog.at_level(logging.WARNING, logger="embedding_net.compiling"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert any("ClassifierTrainingModel" in r.getMessage() for r in caplog.records)
    assert getattr(loaded, "optimizer", None) is None
    np.testing.assert_allclose(loaded.encode(images), net.encode(images), atol=1e-6)
