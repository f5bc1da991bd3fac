"""A partial backbone freeze (``unfreeze_backbone(from_layer)``) survives save/load.

Before ``frozen_backbone_layers`` a saved model came back with every backbone layer
trainable, and Keras skipped the saved optimizer state ("Skipping variable loading for
optimizer ...") because the optimizer then had more variables than were saved.
"""

import keras
import numpy as np
import pytest

from embedding_net.losses import TripletSemiHardLoss
from embedding_net.models import BaseNetwork, SiameseModel, TripletModel
from tests.models.helpers import class_images, edit_saved_config, make_pairs, make_triplets

SKIPPED = "Skipping variable loading"


def small_net(**kwargs):
    return BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3), **kwargs)


def flags(model):
    return {layer.name: layer.trainable for layer in model.layers}


def values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def load_without_skipping(path, recwarn):
    loaded = keras.saving.load_model(path)
    skipped = [str(w.message) for w in recwarn if SKIPPED in str(w.message)]
    assert not skipped, skipped
    return loaded


@pytest.mark.parametrize("from_layer", ["block3_conv", 5])
def test_partial_freeze_and_optimizer_state_round_trip(tmp_path, recwarn, from_layer):
    images, labels = class_images(per_class=4)
    net = small_net()
    net.unfreeze_backbone(from_layer)
    expected = flags(net.backbone)
    start = 9 if from_layer == "block3_conv" else 5
    assert [n for n, t in expected.items() if t] == [
        layer.name
        for layer in net.backbone.layers[start:]
        if not isinstance(layer, keras.layers.BatchNormalization)
    ]
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TripletSemiHardLoss())
    net.fit(images, labels, batch_size=16, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "partial.keras"
    net.save(path)

    loaded = load_without_skipping(path, recwarn)
    assert flags(loaded.backbone) == expected
    assert loaded.backbone.trainable and not loaded.get_config()["freeze_backbone"]
    assert all(
        not layer.trainable
        for layer in loaded.backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert [v.path for v in loaded.trainable_variables] == [v.path for v in net.trainable_variables]
    # the optimizer state (step count, Adam moments) was loaded, not re-initialised
    assert len(loaded.optimizer.variables) == len(net.optimizer.variables)
    for a, b in zip(values(loaded.optimizer.variables), values(net.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 1

    # both train on identically, and the frozen layers do not move
    frozen_before = values(loaded.backbone.non_trainable_weights)
    for model in (net, loaded):
        model.fit(images, labels, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(values(loaded.weights), values(net.weights)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(values(loaded.backbone.non_trainable_weights), frozen_before):
        np.testing.assert_array_equal(a, b)


def test_config_records_the_frozen_layers_only_for_a_partial_freeze():
    net = small_net()
    assert net.get_config()["frozen_backbone_layers"] is None  # all trainable
    net.freeze_backbone()
    config = net.get_config()
    assert config["freeze_backbone"] and config["frozen_backbone_layers"] is None
    # a full unfreeze still keeps BatchNorm frozen: that is a partial freeze too
    net.unfreeze_backbone()
    assert net.get_config()["frozen_backbone_layers"] == [f"block{i}_bn" for i in (1, 2, 3, 4)]
    net.unfreeze_backbone("block2_conv")
    rebuilt = BaseNetwork.from_config(net.get_config())
    assert flags(rebuilt.backbone) == flags(net.backbone)
    assert rebuilt.get_config() == net.get_config()


def test_file_without_the_key_loads_as_before(tmp_path):
    images, labels = class_images(per_class=4)
    net = small_net()
    net.unfreeze_backbone("block3_conv")
    path = tmp_path / "old.keras"
    net.save(path)
    edit_saved_config(path, lambda config: config["config"].pop("frozen_backbone_layers"))
    loaded = keras.saving.load_model(path)
    assert all(layer.trainable for layer in loaded.backbone.layers)
    np.testing.assert_allclose(loaded.encode(images), net.encode(images), atol=1e-6)


def test_nested_backbone_layers_are_named_by_path(tmp_path, recwarn):
    inner = keras.Sequential(
        [keras.layers.Conv2D(4, 3, name="c1"), keras.layers.Conv2D(4, 3, name="c2")], name="inner"
    )
    backbone = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="stem"), inner], name="nested"
    )
    net = BaseNetwork(backbone, embedding_dim=6, input_shape=(16, 16, 3))
    net.backbone.get_layer("stem").trainable = False
    inner.get_layer("c1").trainable = False
    assert net.get_config()["frozen_backbone_layers"] == ["stem", "inner/c1"]
    images, labels = class_images(per_class=4)
    net.compile(optimizer="adam", loss=TripletSemiHardLoss())
    net.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "nested.keras"
    net.save(path)
    loaded = load_without_skipping(path, recwarn)
    loaded_inner = loaded.backbone.get_layer("inner")
    assert flags(loaded.backbone) == flags(net.backbone)
    assert flags(loaded_inner) == {"c1": False, "c2": True}
    # (a loaded nested Sequential names its variables without the model prefix)
    trainable = [tuple(v.shape) for v in net.trainable_variables]
    assert [tuple(v.shape) for v in loaded.trainable_variables] == trainable


@pytest.mark.parametrize("wrapper", ["siamese", "triplet"])
def test_wrapped_network_keeps_its_partial_freeze(tmp_path, recwarn, wrapper):
    images, labels = class_images(per_class=4)
    net = small_net()
    net.unfreeze_backbone("block3_conv")
    if wrapper == "siamese":
        model, data = SiameseModel(net), make_pairs(images, labels)
        x, y = data[:2], data[2]
    else:
        model, x, y = TripletModel(net), make_triplets(images, labels), None
    model.compile(optimizer="adam")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / f"{wrapper}.keras"
    model.save(path)
    loaded = load_without_skipping(path, recwarn)
    assert flags(loaded.network.backbone) == flags(net.backbone)
    for a, b in zip(values(loaded.optimizer.variables), values(model.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"frozen_backbone_layers": ["block1_conv"], "freeze_backbone": True},
            "frozen_backbone_layers only applies with freeze_backbone=False",
        ),
        ({"frozen_backbone_layers": ["no_such"]}, "'no_such' is not a layer of the backbone"),
        ({"frozen_backbone_layers": ["block1_conv/x"]}, "'block1_conv/x' is not a layer"),
        ({"frozen_backbone_layers": "block1_conv"}, "must be a list of layer names"),
        ({"frozen_backbone_layers": [3]}, "must be a list of layer names"),
    ],
)
def test_invalid_frozen_layers_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_net(**kwargs)
