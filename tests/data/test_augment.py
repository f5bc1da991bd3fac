"""Augmentation presets run inside tf.data on uint8 batches; albumentations adapter."""

from __future__ import annotations

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

from embedding_net.data import augment as Aug


def _images(n=4, h=16, w=12):
    return np.random.default_rng(0).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("preset", Aug.PRESETS)
def test_presets_keep_shape_dtype_inside_tf_data(preset):
    x = _images()
    pipe = Aug.augmentation_pipeline(preset, image_size=(16, 12), seed=1)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(pipe)
    out = next(iter(ds)).numpy()
    assert out.shape == x.shape and out.dtype == np.uint8
    single = pipe(tf.constant(x[0])).numpy()
    assert single.shape == x[0].shape and single.dtype == np.uint8


def test_flip_preset_is_identity_or_mirror():
    x = _images(16)
    out = Aug.augmentation_pipeline("flip", seed=0)(tf.constant(x)).numpy()
    flipped = 0
    for a, b in zip(x, out):
        if np.array_equal(a, b):
            continue
        assert np.array_equal(b, a[:, ::-1])
        flipped += 1
    assert 0 < flipped < 16


def test_reid_preset_changes_images_and_needs_size():
    x = _images(8)
    pipe = Aug.augmentation_pipeline("reid", image_size=(16, 12), seed=0, erasing_probability=1.0)
    out = pipe(tf.constant(x)).numpy()
    assert not any(np.array_equal(a, b) or np.array_equal(a[:, ::-1], b) for a, b in zip(x, out))
    with pytest.raises(ValueError, match="image_size"):
        Aug.augmentation_pipeline("reid")


def _windows(padded, height, width):
    """Every ``height x width`` window of ``padded`` (h, w, c), by offset."""
    h, w = padded.shape[:2]
    return {
        (dy, dx): padded[dy : dy + height, dx : dx + width]
        for dy in range(h - height + 1)
        for dx in range(w - width + 1)
    }


def test_reid_crop_draws_a_window_per_image():
    # Keras' RandomCrop alone would crop a whole batch at one offset: each image has its own
    image = np.random.default_rng(3).integers(0, 256, (16, 8, 3), dtype=np.uint8)
    x = np.stack([image] * 32)
    pipe = Aug.augmentation_pipeline(
        "reid", image_size=(16, 8), seed=1, erasing_probability=0, pad=3
    )
    out = pipe.per_batch(tf.constant(x)).numpy()
    assert out.shape == x.shape and out.dtype == np.uint8
    windows = _windows(np.pad(image, ((3, 3), (3, 3), (0, 0)), mode="reflect"), 16, 8)
    offsets = []
    for crop in out:  # a brute-force search for the window each image shows
        found = [k for k, window in windows.items() if np.array_equal(window, crop)]
        assert found, "a crop is not a window of the reflect-padded image"
        offsets.append(found[0])
    assert len(set(offsets)) > 10  # 49 possible windows, 32 images
    assert len({dy for dy, _ in offsets}) >= 4 and len({dx for _, dx in offsets}) >= 4
    # inside tf.data (graph mode) as well, with the static shape kept
    ds = tf.data.Dataset.from_tensor_slices(x).batch(8).map(pipe.per_batch)
    assert ds.element_spec.shape.as_list() == [None, 16, 8, 3]
    assert all(b.shape == (8, 16, 8, 3) for b in ds)


def test_random_crop_of_images_not_larger_than_the_crop_uses_the_layer():
    import keras

    x = tf.constant(_images(4))  # 16 x 12: a 16 x 12 crop has nothing to choose from
    pipe = Aug.AugmentationPipeline([keras.layers.RandomCrop(16, 12, seed=0)], pad=0, seed=0)
    np.testing.assert_array_equal(pipe.per_batch(x).numpy(), x.numpy())


def test_preset_contents_and_errors():
    signs = Aug.augmentation_pipeline("signs", seed=0)
    assert not any(isinstance(layer, keras.layers.RandomFlip) for layer in signs.layers)
    faces = Aug.augmentation_pipeline("faces", randaugment=True)
    assert isinstance(faces.layers[-1], keras.layers.RandAugment)
    assert any(
        isinstance(layer, keras.layers.RandomErasing)
        for layer in Aug.augmentation_pipeline("reid", (8, 8)).layers
    )

    # random erasing: the reid/default presets' own, any preset's on request
    def erasing(pipe):
        return [lay for lay in pipe.layers if isinstance(lay, keras.layers.RandomErasing)]

    assert not erasing(signs) and not erasing(Aug.augmentation_pipeline("flip"))
    assert len(erasing(Aug.augmentation_pipeline("default"))) == 1
    assert not erasing(Aug.augmentation_pipeline("reid", (8, 8), erasing_probability=0.0))
    occluded = Aug.augmentation_pipeline("signs", erasing_probability=1.0, seed=0)
    assert isinstance(occluded.layers[-1], keras.layers.RandomErasing)
    x = _images(8, 32, 32)
    out = occluded(tf.constant(x)).numpy()
    plain = Aug.augmentation_pipeline("signs", seed=0)(tf.constant(x)).numpy()
    # same seeds for the layers before the erasing: the erased pixels are the only change
    changed = (out != plain).any(axis=-1).mean(axis=(1, 2))
    assert ((changed > 0.0) & (changed <= 0.5)).all(), changed
    # the probability is the one asked for (Keras' factor=p alone would erase p / 2)
    x = np.full((400, 16, 16, 3), 128, np.uint8)
    half = Aug.augmentation_pipeline("flip", erasing_probability=0.5, seed=0)
    erased = (half(tf.constant(x)).numpy() != 128).any(axis=(1, 2, 3)).mean()
    assert 0.43 <= erased <= 0.57, erased
    with pytest.raises(ValueError, match="preset"):
        Aug.augmentation_pipeline("cats")
    with pytest.raises(ValueError, match="erasing_probability"):
        Aug.augmentation_pipeline("default", erasing_probability=2)


def test_randaugment_runs_in_tf_data():
    pipe = Aug.augmentation_pipeline("default", randaugment=True, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(_images(4)).batch(2).map(pipe)
    assert [b.shape[0] for b in ds] == [2, 2]


@pytest.mark.skipif(
    importlib.util.find_spec("albumentations") is not None, reason="albumentations installed"
)
def test_albumentations_missing_names_extra():
    with pytest.raises(ImportError, match=r"embedding-net\[aug\]"):
        Aug.AlbumentationsAdapter(lambda image: {"image": image})


def test_albumentations_adapter_with_compose_api(monkeypatch):
    # an object with albumentations' call convention: compose(image=array) -> {"image": array}
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "albumentations" else real_find_spec(name, *a),
    )

    def mirror(image):
        return {"image": image[:, ::-1]}

    adapter = Aug.AlbumentationsAdapter(mirror)
    x = _images(3)
    out = next(iter(tf.data.Dataset.from_tensor_slices(x).batch(3).map(adapter))).numpy()
    np.testing.assert_array_equal(out, x[:, :, ::-1])

    def crop(image):
        return {"image": image[:4]}

    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="A.Resize"):
        Aug.AlbumentationsAdapter(crop)(tf.constant(x))


def test_flip_fused_into_readers_is_exact(tmp_path):
    from PIL import Image

    from embedding_net.data.images import image_dataset

    x = _images(12, 8, 6)
    paths = []
    for i, img in enumerate(x):
        paths.append(str(tmp_path / f"{i:02d}.png"))
        Image.fromarray(img).save(paths[-1])
    pipe = Aug.augmentation_pipeline("flip", seed=0)
    assert not pipe.has_batch_part
    ds = image_dataset(paths, list(range(12)), (8, 6), batch_size=12, augment=pipe, shuffle=False)
    out, labels = next(iter(ds))
    mirrored = [not np.array_equal(a, b) for a, b in zip(x, out.numpy())]
    for a, b, m in zip(x, out.numpy(), mirrored):
        assert np.array_equal(b, a[:, ::-1] if m else a)
    assert 0 < sum(mirrored) < 12
    reid = Aug.augmentation_pipeline("reid", image_size=(8, 6), seed=0)
    assert reid.has_batch_part and reid.per_image(tf.constant(x[0])).shape == (8, 6, 3)
    assert reid.per_batch(tf.constant(x)).shape == x.shape
