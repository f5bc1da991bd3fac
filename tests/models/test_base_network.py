import os

import keras
import numpy as np
import pytest

from embedding_net.layers import ImagePreprocessing
from embedding_net.losses import TripletSemiHardLoss
from embedding_net.models import BaseNetwork, available_backbones, build_backbone, simple_cnn
from tests.models.helpers import class_images


def small_net(**kwargs):
    kwargs.setdefault("embedding_dim", 8)
    kwargs.setdefault("input_shape", (16, 16, 3))
    return BaseNetwork("simple_cnn", **kwargs)


def test_encode_shapes_and_unit_norm():
    net = small_net()
    images, _ = class_images(per_class=3)
    emb = net.encode(images)
    assert emb.shape == (len(images), 8) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    # uint8 and float inputs of the same pixels give the same embeddings
    np.testing.assert_allclose(net.encode(images.astype("float32")), emb, atol=1e-6)
    # a single image is accepted and batched
    np.testing.assert_allclose(net.encode(images[0]), emb[:1], atol=1e-6)
    assert net.encode(images[:0]).shape == (0, 8)


def test_encode_tf_data_matches_array():
    import tensorflow as tf

    net = small_net()
    images, labels = class_images(per_class=3)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(5)
    np.testing.assert_allclose(net.encode(ds), net.encode(images), atol=1e-5)


def test_without_normalization_and_options():
    net = small_net(normalize=False, pooling="gem", dropout=0.2, neck="bnneck")
    emb = net.encode(class_images(per_class=2)[0])
    assert not np.allclose(np.linalg.norm(emb, axis=1), 1.0)
    assert net.get_layer("neck").center is False
    no_head = small_net(embedding_dim=None, pooling="max")
    assert no_head.embedding_dim == 256  # simple_cnn's last block width


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pooling": "sum"}, "pooling"),
        ({"neck": "ln"}, "neck"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"dropout": 1.5}, "dropout"),
        ({"input_shape": (16, 16)}, "input_shape"),
        ({"weights": "imagenet"}, "no ImageNet weights"),
        ({"weights": "/nonexistent/file.weights.h5"}, "no such file"),
        ({"preprocessing": "bgr"}, "preprocessing"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_net(**kwargs)


def test_unknown_backbone_lists_names():
    with pytest.raises(ValueError, match="mobilenet_v3_small"):
        BaseNetwork("resnet1000", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="needs height and width"):
        BaseNetwork("inception_resnet_v2", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="3 channels"):
        BaseNetwork("resnet50", input_shape=(32, 32, 1))


def test_encode_rejects_wrong_shapes():
    net = small_net()
    with pytest.raises(ValueError, match=r"\(n, 16, 16, 3\)"):
        net.encode(np.zeros((2, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match=r"\(n, 16, 16, 3\)"):
        net.encode(np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError):
        net(np.zeros((2, 16, 16, 4), np.float32))


@pytest.mark.parametrize(
    "mode, reference",
    [
        ("caffe", "resnet50"),
        ("torch", "torch"),
        ("tf", "tf"),
    ],
)
def test_preprocessing_matches_keras_applications(mode, reference):
    from keras.applications import imagenet_utils, resnet50

    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    if reference == "resnet50":
        expected = resnet50.preprocess_input(x.copy())
    else:
        expected = imagenet_utils.preprocess_input(x.copy(), mode=reference)
    got = keras.ops.convert_to_numpy(ImagePreprocessing(mode)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_standardize_preprocessing_matches_numpy_per_image():
    rng = np.random.default_rng(0)
    dark = rng.uniform(0, 40, (32, 32, 3))  # a dark, low-contrast photo
    bright = rng.uniform(100, 255, (32, 32, 3))
    x = np.stack([dark, bright]).astype("float32")
    got = keras.ops.convert_to_numpy(ImagePreprocessing("standardize")(x))
    scaled = x / 255.0
    for image, out in zip(scaled, got):
        expected = (image - image.mean()) / max(image.std(), 1 / np.sqrt(image.size))
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # each image alone has zero mean / unit variance, whatever its brightness
    np.testing.assert_allclose(got.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(got.std(axis=(1, 2, 3)), 1.0, rtol=1e-4)
    # brightness and contrast changes of one image give the same output
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ImagePreprocessing("standardize")(x[:1] * 0.5 + 20)),
        got[:1],
        atol=1e-4,
    )


def test_standardize_preprocessing_edge_cases():
    layer = ImagePreprocessing("standardize")
    constant = np.full((1, 4, 4, 3), 77, dtype=np.uint8)  # std 0: zeros, not NaN
    # (zero up to the rounding of the mean, which differs between backends)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(constant)), 0.0, atol=1e-6)
    gray = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(gray))
    assert out.shape == (2, 4, 4, 1)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1.0, rtol=1e-4)
    assert keras.ops.convert_to_numpy(layer(gray[:0])).shape == (0, 4, 4, 1)
    net = small_net(preprocessing="standardize")
    images, _ = class_images(per_class=2)
    emb = net.encode(images)
    assert np.isfinite(emb).all()
    # a uniformly darkened copy of the images embeds (almost) the same
    np.testing.assert_allclose(net.encode(images.astype("float32") * 0.5), emb, atol=1e-4)
    restored = BaseNetwork.from_config(net.get_config())
    assert restored.get_config()["preprocessing"] == "standardize"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in available_backbones() if n != "simple_cnn"])
def test_every_named_backbone_builds_and_encodes(name):
    size = 75 if name == "inception_resnet_v2" else 32
    net = BaseNetwork(name, embedding_dim=8, input_shape=(size, size, 3))
    images = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    emb = net.encode(images)
    assert emb.shape == (2, 8) and np.isfinite(emb).all()
    assert net.get_config()["backbone"] == name


def test_local_weights_file_is_loaded(tmp_path):
    source, _ = build_backbone("simple_cnn", (16, 16, 3))
    path = os.fspath(tmp_path / "backbone.weights.h5")
    source.save_weights(path)
    net = small_net(weights=path)
    for a, b in zip(source.get_weights(), net.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a loaded model never re-reads the weights file: it keeps its own saved weights
    assert net.get_config()["weights"] == path
    assert BaseNetwork.from_config(net.get_config()) is not None


@pytest.mark.slow
def test_mobilenet_local_weights_transfer(tmp_path):
    source, _ = build_backbone("mobilenet_v3_small", (32, 32, 3))
    path = os.fspath(tmp_path / "mnv3.weights.h5")
    source.save_weights(path)
    net = BaseNetwork("mobilenet_v3_small", embedding_dim=8, input_shape=(32, 32, 3), weights=path)
    for a, b in zip(source.get_weights(), net.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_freeze_keeps_backbone_and_batchnorm_fixed():
    images, labels = class_images(per_class=8)
    net = small_net(freeze_backbone=True)
    before = [w.copy() for w in net.backbone.get_weights()]
    assert all(not w.trainable for w in net.backbone.weights)
    net.compile(optimizer=keras.optimizers.Adam(1e-2), loss=TripletSemiHardLoss())
    net.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(before, net.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)  # incl. BatchNorm moving statistics
    net.unfreeze_backbone()
    trainable = {w.path for w in net.backbone.trainable_weights}
    assert any("conv" in p for p in trainable) and not any("_bn" in p for p in trainable)


def test_fit_with_in_batch_loss_lowers_loss():
    images, labels = class_images(num_classes=4, per_class=16)
    net = small_net()
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TripletSemiHardLoss(margin=0.5))
    history = net.fit(images, labels, batch_size=32, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


def test_custom_keras_backbone_round_trip(tmp_path):
    backbone = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="c")], name="tiny"
    )
    net = BaseNetwork(backbone, embedding_dim=6, input_shape=(16, 16, 3))
    images, _ = class_images(per_class=2)
    expected = net.encode(images)
    path = tmp_path / "custom.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is BaseNetwork
    np.testing.assert_allclose(loaded.encode(images), expected, atol=1e-6)


def test_custom_backbone_rejects_weights_argument():
    with pytest.raises(ValueError, match="weights="):
        BaseNetwork(simple_cnn((16, 16, 3)), input_shape=(16, 16, 3), weights="imagenet")


@pytest.mark.slow
def test_resnet50_last_stride_one_doubles_the_feature_map(tmp_path):
    normal, _ = build_backbone("resnet50", (64, 32, 3))
    source = os.fspath(tmp_path / "r50.weights.h5")
    normal.save_weights(source)
    net = BaseNetwork(
        "resnet50", embedding_dim=8, input_shape=(64, 32, 3), last_stride=1, weights=source
    )
    assert normal.output_shape[1:3] == (2, 1)
    assert net.backbone.output_shape[1:3] == (4, 2)
    for a, b in zip(normal.get_weights(), net.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="last_stride"):
        small_net(last_stride=1)
    path = tmp_path / "r50.keras"
    net.save(path)
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 32, 3), dtype=np.uint8)
    loaded = keras.saving.load_model(path)
    assert loaded.last_stride == 1
    np.testing.assert_allclose(loaded.encode(images), net.encode(images), atol=1e-5)


def test_vgg_small_feature_map_grayscale_and_round_trip(tmp_path):
    backbone, mode = build_backbone("vgg_small", (32, 48, 1))
    assert mode == "scale" and backbone.output_shape == (None, 2, 3, 256)
    convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 8  # two convolutions per block
    net = BaseNetwork("vgg_small", embedding_dim=8, input_shape=(32, 32, 3))
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    path = os.fspath(tmp_path / "vgg.keras")
    net.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BaseNetwork) and loaded.get_config()["backbone"] == "vgg_small"
    np.testing.assert_allclose(loaded.encode(images), net.encode(images), atol=1e-6)
    with pytest.raises(ValueError, match="needs height and width >= 16"):
        build_backbone("vgg_small", (8, 8, 3))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_rgb_only_backbones_reject_other_channel_counts(name):
    with pytest.raises(ValueError, match=rf"backbone '{name}' expects 3 channels \(RGB\)"):
        build_backbone(name, (32, 32, 1))


def _conv_filters(model):
    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


@pytest.mark.parametrize("name", ["simple_cnn", "vgg_small", "resnet18", "resnet34"])
def test_width_multiplier_scales_every_convolution(name):
    full, _ = build_backbone(name, (32, 32, 3))
    half, _ = build_backbone(name, (32, 32, 3), width=0.5)
    assert _conv_filters(half) == [max(8, round(f / 2)) for f in _conv_filters(full)]
    assert half.output_shape == full.output_shape[:-1] + (full.output_shape[-1] // 2,)
    # 3x3 convolutions dominate: half the channels, about a quarter of the weights
    assert 0.2 < half.count_params() / full.count_params() < 0.3
    narrow, _ = build_backbone(name, (32, 32, 3), width=0.01)
    assert set(_conv_filters(narrow)) == {8}  # never below 8 filters


def test_width_multiplier_round_trip_and_errors(tmp_path):
    net = BaseNetwork("resnet18", embedding_dim=8, input_shape=(32, 32, 3), width=0.25)
    assert net.backbone.output_shape[-1] == 128 and net.width == 0.25
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    path = os.fspath(tmp_path / "narrow.keras")
    net.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BaseNetwork) and loaded.width == 0.25
    assert loaded.backbone.output_shape[-1] == 128
    np.testing.assert_allclose(loaded.encode(images), net.encode(images), atol=1e-6)
    for bad in (0, -1.0, float("nan"), float("inf"), "half", True):
        with pytest.raises(ValueError, match=r"width must be a finite number > 0, got"):
            build_backbone("simple_cnn", (16, 16, 3), width=bad)
    with pytest.raises(ValueError, match=r"width=0.5: the width multiplier applies to \["):
        build_backbone("mobilenet_v3_small", (32, 32, 3), width=0.5)
    with pytest.raises(ValueError, match="width only applies to a backbone given by name"):
        BaseNetwork(simple_cnn((16, 16, 3)), input_shape=(16, 16, 3), width=0.5)


def test_center_crop_feeds_the_central_region_to_the_backbone(tmp_path):
    net = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(28, 24, 3), center_crop=(20, 16))
    assert net.backbone.input_shape == (None, 20, 16, 3) and net.center_crop == (20, 16)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (4, 28, 24, 3), dtype=np.uint8)
    emb = net.encode(images)
    # independent reference: the same layers applied to the images cropped by hand (rows
    # 4..23, columns 4..19) in a network built for the crop size
    uncropped = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(20, 16, 3))
    uncropped.set_weights(net.get_weights())
    np.testing.assert_allclose(uncropped.encode(images[:, 4:24, 4:20]), emb, atol=1e-5)
    # the border never reaches the embedding; the centre does
    border = images.copy()
    border[:, :4], border[:, 24:], border[:, :, :4], border[:, :, 20:] = 0, 255, 7, 0
    np.testing.assert_allclose(net.encode(border), emb, atol=1e-6)
    centre = images.copy()
    centre[:, 10:18, 8:16] = 255 - centre[:, 10:18, 8:16]
    assert np.abs(net.encode(centre) - emb).max() > 1e-3
    path = os.fspath(tmp_path / "crop.keras")
    net.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BaseNetwork) and loaded.center_crop == (20, 16)
    np.testing.assert_allclose(loaded.encode(images), emb, atol=1e-6)
    # a crop the size of the image is the identity
    same = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(20, 16, 3), center_crop=(20, 16))
    same.set_weights(net.get_weights())
    np.testing.assert_allclose(same.encode(images[:, 4:24, 4:20]), emb, atol=1e-5)


@pytest.mark.parametrize(
    "crop, message",
    [
        ((32, 16), r"center_crop=\(32, 16\) is larger than the images of input_shape"),
        ((20, 30), r"center_crop=\(20, 30\) is larger than the images of input_shape"),
        ((20,), r"center_crop must be \(height, width\) of positive integers or None"),
        ((0, 16), r"center_crop must be \(height, width\) of positive integers or None"),
        ((20.5, 16), r"center_crop must be \(height, width\) of positive integers or None"),
        ("20x16", r"center_crop must be \(height, width\) of positive integers or None"),
    ],
)
def test_center_crop_errors(crop, message):
    with pytest.raises(ValueError, match=message):
        BaseNetwork("simple_cnn", input_shape=(28, 24, 3), center_crop=crop)
