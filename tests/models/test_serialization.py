"""Every public model and layer survives keras save/load (safe mode, no custom_objects)."""

import keras
import numpy as np
import pytest

from embedding_net.layers import (
    AbsoluteDifferenceHead,
    GeneralizedMeanPooling,
    ImagePreprocessing,
    L2Normalize,
    PairDistance,
)
from embedding_net.losses import TripletSemiHardLoss
from embedding_net.models import BaseNetwork, SiameseModel, TripletModel
from embedding_net.models.metrics import DistanceAccuracy
from tests.models.helpers import class_images, make_pairs, make_triplets


def net(**kwargs):
    kwargs.setdefault("embedding_dim", 8)
    return BaseNetwork("simple_cnn", input_shape=(16, 16, 3), **kwargs)


def reload(model, tmp_path, name="m.keras"):
    path = tmp_path / name
    model.save(path)
    # create layers so auto-generated names in this session differ from the saved ones
    for _ in range(3):
        keras.layers.Dense(2)
    return keras.saving.load_model(path, safe_mode=True)


@pytest.mark.parametrize(
    "kwargs", [{}, {"pooling": "gem", "neck": "bnneck", "dropout": 0.1, "normalize": False}]
)
def test_base_network_round_trip_after_training(tmp_path, kwargs):
    images, labels = class_images(per_class=6)
    model = net(**kwargs)
    model.compile(optimizer="adam", loss=TripletSemiHardLoss())
    model.fit(images, labels, epochs=1, batch_size=12, verbose=0)
    loaded = reload(model, tmp_path)
    assert type(loaded) is BaseNetwork
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.encode(images), model.encode(images), atol=1e-6)
    # compiled state came back too: training can resume
    assert isinstance(loaded.loss, TripletSemiHardLoss)
    loaded.fit(images, labels, epochs=1, batch_size=12, verbose=0)


@pytest.mark.parametrize("head", ["distance", "merge"])
def test_siamese_round_trip(tmp_path, head):
    images, labels = class_images(per_class=4)
    x1, x2, y = make_pairs(images, labels)
    model = SiameseModel(net(), head=head, contrastive_weight=0.3 if head == "merge" else 0.0)
    model.compile(optimizer="adam", metrics=["accuracy"])
    model.fit((x1, x2), y, epochs=1, batch_size=8, verbose=0)
    loaded = reload(model, tmp_path)
    assert type(loaded) is SiameseModel and type(loaded.network) is BaseNetwork
    assert loaded.head == head
    np.testing.assert_allclose(
        loaded.predict((x1, x2), verbose=0), model.predict((x1, x2), verbose=0), atol=1e-6
    )
    loaded.fit((x1, x2), y, epochs=1, batch_size=8, verbose=0)


def test_triplet_round_trip(tmp_path):
    images, labels = class_images(per_class=4)
    a, p, n = make_triplets(images, labels)
    model = TripletModel(net(), margin=0.3, distance="cosine")
    model.compile(optimizer="adam")
    model.fit((a, p, n), epochs=1, batch_size=8, verbose=0)
    loaded = reload(model, tmp_path)
    assert type(loaded) is TripletModel and loaded.margin == 0.3
    np.testing.assert_allclose(
        loaded.predict((a, p, n), verbose=0), model.predict((a, p, n), verbose=0), atol=1e-6
    )


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (ImagePreprocessing("caffe"), np.full((2, 4, 4, 3), 100.0, "float32")),
        (GeneralizedMeanPooling(p=2.5), np.random.default_rng(0).random((2, 3, 3, 4), "float32")),
        (L2Normalize(), np.random.default_rng(1).normal(size=(3, 5)).astype("float32")),
        (PairDistance("cosine"), [np.eye(3, dtype="float32"), np.ones((3, 3), "float32")]),
        (AbsoluteDifferenceHead(), [np.eye(3, dtype="float32"), np.ones((3, 3), "float32")]),
    ],
)
def test_layer_config_round_trip(layer, inputs):
    expected = keras.ops.convert_to_numpy(layer(inputs))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    if layer.weights:
        clone(inputs)
        clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(inputs)), expected, atol=1e-6)


def test_gem_pooling_matches_numpy_and_limits():
    x = np.random.default_rng(0).random((2, 3, 3, 4)).astype("float32") + 0.1
    got = keras.ops.convert_to_numpy(GeneralizedMeanPooling(p=3.0)(x))
    np.testing.assert_allclose(got, np.mean(x**3, axis=(1, 2)) ** (1 / 3), rtol=1e-5)
    avg = keras.ops.convert_to_numpy(GeneralizedMeanPooling(p=1.0)(x))
    np.testing.assert_allclose(avg, x.mean(axis=(1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="4D"):
        GeneralizedMeanPooling()(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="p must be"):
        GeneralizedMeanPooling(p=0)


def test_distance_accuracy_metric():
    metric = DistanceAccuracy(threshold=0.5)
    metric.update_state(np.array([1, 1, 0, 0]), np.array([0.1, 0.9, 0.2, 0.8]))
    assert float(metric.result()) == pytest.approx(0.5)
    clone = DistanceAccuracy.from_config(metric.get_config())
    assert clone.threshold == 0.5


def test_head_weights_train_and_round_trip(tmp_path):
    from embedding_net.heads import ArcFaceHead
    from embedding_net.models import ClassifierTrainingModel

    images, labels = class_images(num_classes=4, per_class=6)
    model = ClassifierTrainingModel(net(), ArcFaceHead(num_classes=4, embedding_dim=8, scale=16.0))
    model.compile(optimizer="adam")
    before = keras.ops.convert_to_numpy(model.head.weights[0]).copy()
    model.fit(images, labels, epochs=2, batch_size=12, verbose=0)
    after = keras.ops.convert_to_numpy(model.head.weights[0])
    assert not np.allclose(before, after)  # the class weights are trained with the network
    loaded = reload(model, tmp_path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.head.weights[0]), after)
    np.testing.assert_allclose(loaded.encode(images), model.encode(images), atol=1e-6)
    np.testing.assert_allclose(
        loaded.evaluate(images, labels, verbose=0),
        model.evaluate(images, labels, verbose=0),
        rtol=1e-5,
    )


def test_head_next_to_a_metric_loss_round_trips(tmp_path):
    from embedding_net.heads import CosFaceHead
    from embedding_net.losses import BatchHardTripletLoss
    from embedding_net.models import ClassifierTrainingModel

    images, labels = class_images(num_classes=4, per_class=6)
    cosface = CosFaceHead(num_classes=4, embedding_dim=8)
    model = ClassifierTrainingModel(net(), cosface, metric_loss=BatchHardTripletLoss())
    model.compile(optimizer="adam")
    assert model.head is cosface
    model.fit(images, labels, epochs=1, batch_size=12, verbose=0)
    loaded = reload(model, tmp_path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.head.weights[0]),
        keras.ops.convert_to_numpy(cosface.weights[0]),
    )
