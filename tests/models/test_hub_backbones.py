"""keras-hub backbones in a BaseNetwork, offline: tiny backbones with random weights saved as
local presets, loaded by directory handle, trained a step, saved and loaded again."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net import losses
from embedding_net.models import BaseNetwork
from embedding_net.models import hub as hub_module
from embedding_net.models.backbones import BACKBONES
from embedding_net.models.hub import (
    HubImagePreprocessing,
    TokenPooling,
    is_hub_handle,
    require_keras_hub,
)
from embedding_net.saving import load_model
from tests.models.hub_presets import FAMILIES, SIZE, image_converter, save_tiny_preset

keras_hub = pytest.importorskip("keras_hub")


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_presets")
    return {family: save_tiny_preset(family, root / family) for family in FAMILIES}


def _images(n=8, size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_build_fit_save_load_identical_embeddings(presets, family, tmp_path):
    network = BaseNetwork(presets[family], embedding_dim=8, input_shape=(SIZE, SIZE, 3))
    assert network.backbone_handle == presets[family]
    assert network.embedding_dim == 8
    images, labels = _images(), np.repeat(np.arange(4), 2)
    network.compile(optimizer=keras.optimizers.SGD(0.01), loss=losses.TripletSemiHardLoss())
    before = network.encode(images)
    history = network.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = network.encode(images)
    assert after.shape == (8, 8) and not np.allclose(before, after)
    # .keras round trip in safe mode
    network.save(tmp_path / "network.keras")
    loaded = load_model(tmp_path / "network.keras")
    assert isinstance(loaded, BaseNetwork) and loaded.backbone_handle == presets[family]
    np.testing.assert_allclose(loaded.encode(images), after, atol=1e-6)
    # our own preset round trip
    network.save_to_preset(tmp_path / "preset", metrics={"rank1": 0.5})
    restored = BaseNetwork.from_preset(tmp_path / "preset")
    np.testing.assert_allclose(restored.encode(images), after, atol=1e-6)
    assert restored.preset_metadata["backbone"] == presets[family]
    assert restored.preset_metadata["preprocessing"]["scale"] is not None


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_preprocessing_matches_keras_hub_image_converter(presets, family):
    network = BaseNetwork(
        presets[family], embedding_dim=None, input_shape=(SIZE, SIZE, 3), token_pooling="mean"
    )
    image = _images(2, seed=1)
    ours = keras.ops.convert_to_numpy(network.get_layer("preprocessing")(image))
    theirs = keras.ops.convert_to_numpy(image_converter(family)(image))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert isinstance(network.get_layer("preprocessing"), HubImagePreprocessing)


def test_fixed_size_backbone_gets_images_resized_as_keras_hub_does(presets):
    network = BaseNetwork(presets["vit"], embedding_dim=4, input_shape=(48, 40, 3))
    image = _images(2, size=48, seed=2)[:, :, :40]
    ours = keras.ops.convert_to_numpy(network.get_layer("preprocessing")(image))
    # keras-hub's converter rounds a resized uint8 image to integers; the network resizes
    # the float pixels: compare on float input
    theirs = keras.ops.convert_to_numpy(image_converter("vit")(image.astype("float32")))
    assert ours.shape == (2, SIZE, SIZE, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
    assert network.encode(image).shape == (2, 4)


@pytest.mark.parametrize(
    "family, prefix", [(family, spec[4]) for family, spec in sorted(FAMILIES.items())]
)
def test_token_pooling_skips_the_cls_and_register_tokens(presets, family, prefix):
    rank = FAMILIES[family][3]
    if rank != 3:  # a feature map (ResNet): global pooling; a vector (SigLIP): as it is
        network = BaseNetwork(presets[family], embedding_dim=None, input_shape=(SIZE, SIZE, 3))
        names = [layer.name for layer in network.layers]
        assert "token_pooling" not in names and ("pooling" in names) == (rank == 4)
        return
    network = BaseNetwork(
        presets[family], embedding_dim=None, input_shape=(SIZE, SIZE, 3), token_pooling="mean"
    )
    assert network.get_layer("token_pooling").prefix_tokens == prefix
    assert network.embedding_dim == 16


def test_token_pooling_layer():
    tokens = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)
    cls = keras.ops.convert_to_numpy(TokenPooling("cls", 1)(tokens))
    mean = keras.ops.convert_to_numpy(TokenPooling("mean", 3)(tokens))
    np.testing.assert_allclose(cls, tokens[:, 0])
    np.testing.assert_allclose(mean, tokens[:, 3:].mean(axis=1))
    layer = TokenPooling.from_config(TokenPooling("mean", 2).get_config())
    assert (layer.mode, layer.prefix_tokens) == ("mean", 2)
    with pytest.raises(ValueError, match="no CLS token"):
        TokenPooling("cls", 0)
    with pytest.raises(ValueError, match="token_pooling"):
        TokenPooling("max", 1)


def test_backbone_instance_and_image_converter_argument():
    backbone = FAMILIES["dinov2"][0]()
    network = BaseNetwork(backbone, embedding_dim=4, input_shape=(SIZE, SIZE, 3))
    layer = network.get_layer("preprocessing")
    assert layer.scale == pytest.approx(1 / 255) and layer.offset is None
    converted = BaseNetwork(
        FAMILIES["dinov2"][0](),
        embedding_dim=4,
        input_shape=(SIZE, SIZE, 3),
        image_converter=image_converter("dinov2"),
    )
    image = _images(1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(converted.get_layer("preprocessing")(image)),
        keras.ops.convert_to_numpy(image_converter("dinov2")(image)),
        rtol=1e-5,
        atol=1e-5,
    )
    override = BaseNetwork(
        FAMILIES["vit"][0](), embedding_dim=4, input_shape=(40, 40, 3), preprocessing="torch"
    )
    assert override.get_layer("preprocessing").mode == "torch"
    assert override.get_layer("resize").image_size == (SIZE, SIZE)


def test_freeze_and_unfreeze_reach_the_hub_backbone(presets, tmp_path):
    network = BaseNetwork(presets["resnet"], input_shape=(SIZE, SIZE, 3), freeze_backbone=True)
    assert not network.backbone.trainable
    assert all(not w.trainable for w in network.backbone.weights)
    names = [layer.name for layer in network.backbone.layers]
    start = names[len(names) // 2]
    network.unfreeze_backbone(start)
    layers = network.backbone.layers
    assert network.backbone.trainable
    assert all(not layer.trainable for layer in layers[: names.index(start)])
    assert all(
        not layer.trainable
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert any(layer.trainable and layer.weights for layer in layers[names.index(start) :])
    frozen = network.get_config()["frozen_backbone_layers"]
    network.save(tmp_path / "n.keras")
    loaded = load_model(tmp_path / "n.keras")
    assert loaded.get_config()["frozen_backbone_layers"] == frozen
    dino = BaseNetwork(presets["dinov2"], input_shape=(SIZE, SIZE, 3), freeze_backbone=True)
    embeddings, encoder = dino.backbone.layers[1:3]
    dino.unfreeze_backbone(encoder.name)
    assert not embeddings.trainable and encoder.trainable
    dino = BaseNetwork(presets["dinov2"], input_shape=(SIZE, SIZE, 3), freeze_backbone=True)
    embeddings = dino.backbone.layers[1]
    dino.unfreeze_backbone()
    # DINOv2's interpolated position embeddings stay fixed: keras-hub cannot save them exactly
    assert embeddings.trainable and not embeddings.interpolated_position_embeddings.trainable
    assert embeddings.cls_token.trainable


def test_hub_handle_rule(presets, tmp_path):
    assert not is_hub_handle("resnet18", BACKBONES)  # our own names win
    assert is_hub_handle("resnet_18_imagenet", BACKBONES)
    assert is_hub_handle("dinov2_small", BACKBONES)
    assert is_hub_handle("hub:anything", BACKBONES)
    assert is_hub_handle("hf://user/model", BACKBONES)
    assert is_hub_handle("kaggle://keras/dinov2/keras/dinov2_small", BACKBONES)
    assert is_hub_handle(presets["vit"], BACKBONES)
    assert not is_hub_handle(str(tmp_path), BACKBONES)  # an empty directory
    assert not is_hub_handle("no_such_backbone", BACKBONES)


@pytest.mark.parametrize("handle", ["hub:./no/such/preset", "hub:no_such_preset_xyz"])
def test_missing_preset_names_the_handle(handle):
    with pytest.raises(ValueError, match=f"backbone={handle!r}"):
        BaseNetwork(handle, input_shape=(SIZE, SIZE, 3))


def test_download_failure_names_the_handle(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", offline)
    with pytest.raises(ValueError, match="'dinov2_small'.*download.*no network"):
        BaseNetwork("dinov2_small", embedding_dim=256)


def test_arguments_that_do_not_apply_to_hub_backbones(presets):
    with pytest.raises(ValueError, match="does not apply to a keras-hub backbone"):
        BaseNetwork(presets["resnet"], input_shape=(SIZE, SIZE, 3), weights="imagenet")
    shape = (SIZE, SIZE, 3)
    explicit = BaseNetwork(presets["resnet"], None, shape, normalize=False, weights="preset")
    default = BaseNetwork(presets["resnet"], None, shape, normalize=False)
    image = _images(2)
    np.testing.assert_allclose(explicit.encode(image), default.encode(image), atol=1e-6)
    with pytest.raises(ValueError, match="3 channels"):
        BaseNetwork(presets["resnet"], input_shape=(SIZE, SIZE, 1))
    with pytest.raises(ValueError, match="image_converter only applies"):
        BaseNetwork("simple_cnn", input_shape=(SIZE, SIZE, 3), image_converter={"scale": 1.0})
    with pytest.raises(ValueError, match="token_pooling"):
        BaseNetwork(presets["vit"], input_shape=(SIZE, SIZE, 3), token_pooling="max")
    with pytest.raises(ValueError, match="scale"):
        HubImagePreprocessing(scale=[1.0, 2.0])


def test_without_keras_hub_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(hub_module, "keras_hub_installed", lambda: False)
    with pytest.raises(ImportError, match=r"embedding_net\[hub\]"):
        require_keras_hub("backbone='dinov2_small'")
    with pytest.raises(ImportError, match=r"embedding_net\[hub\]"):
        BaseNetwork("hub:dinov2_small")
    with pytest.raises(ValueError, match=r"embedding_net\[hub\]"):
        BaseNetwork("dinov2_small")


def test_our_backbones_do_not_import_keras_hub():
    import subprocess
    import sys

    code = (
        "import sys, embedding_net as en; "
        "en.BaseNetwork('simple_cnn', embedding_dim=4, input_shape=(16, 16, 3)); "
        "assert 'keras_hub' not in sys.modules, 'keras_hub imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
