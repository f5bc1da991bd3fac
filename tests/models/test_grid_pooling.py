"""GridPooling (per-cell pooling of the feature map) and BaseNetwork(pooling_grid=...)."""

import keras
import numpy as np
import pytest

from embedding_net.layers import GeneralizedMeanPooling, GridPooling
from embedding_net.layers.pooling import grid_cells
from embedding_net.losses import BatchHardTripletLoss
from embedding_net.models import BaseNetwork


def reference(x, grid, pooling, p=3.0, eps=1e-6):
    """Loops over cells with PyTorch's adaptive-pooling bounds."""
    n, h, w, c = x.shape
    rows, cols = grid
    out = []
    for i in range(rows):
        r0, r1 = (i * h) // rows, int(np.ceil((i + 1) * h / rows))
        for j in range(cols):
            c0, c1 = (j * w) // cols, int(np.ceil((j + 1) * w / cols))
            cell = x[:, r0:r1, c0:c1, :].reshape(n, -1, c)
            if pooling == "avg":
                out.append(cell.mean(axis=1))
            elif pooling == "max":
                out.append(cell.max(axis=1))
            else:
                out.append(np.mean(np.maximum(cell, eps) ** p, axis=1) ** (1.0 / p))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("pooling", ["avg", "max", "gem"])
@pytest.mark.parametrize("grid", [(2, 1), (3, 1), (2, 2), (6, 3), (4, 3)])
def test_matches_numpy_reference(pooling, grid):
    x = np.random.default_rng(0).random((3, 6, 3, 5)).astype("float32")
    got = keras.ops.convert_to_numpy(GridPooling(grid, pooling)(x))
    assert got.shape == (3, grid[0] * grid[1] * 5)
    np.testing.assert_allclose(got, reference(x, grid, pooling), rtol=1e-5, atol=1e-6)


def test_uneven_cells_cover_the_map_and_overlap_by_one():
    assert grid_cells(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert grid_cells(5, 2) == [(0, 3), (2, 5)]  # row 2 in both, like adaptive pooling
    assert grid_cells(3, 3) == [(0, 1), (1, 2), (2, 3)]


def test_one_cell_equals_global_pooling():
    x = np.random.default_rng(1).random((2, 4, 3, 6)).astype("float32")
    pairs = [
        ("avg", keras.layers.GlobalAveragePooling2D()),
        ("max", keras.layers.GlobalMaxPooling2D()),
        ("gem", GeneralizedMeanPooling(p=3.0)),
    ]
    for pooling, layer in pairs:
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(GridPooling((1, 1), pooling)(x)),
            keras.ops.convert_to_numpy(layer(x)),
            rtol=1e-5,
        )


def test_full_grid_is_a_flatten():
    x = np.random.default_rng(2).random((2, 3, 2, 4)).astype("float32")
    got = keras.ops.convert_to_numpy(GridPooling((3, 2), "avg")(x))
    np.testing.assert_allclose(got, x.reshape(2, -1), rtol=1e-6)


def test_identical_and_nan_inputs():
    same = np.ones((2, 4, 4, 3), "float32")
    out = keras.ops.convert_to_numpy(GridPooling((2, 2), "gem")(same))
    np.testing.assert_allclose(out, 1.0, rtol=1e-5)
    nan = same.copy()
    nan[0, 0, 0, 0] = np.nan
    out = keras.ops.convert_to_numpy(GridPooling((2, 2), "avg")(nan))
    assert np.isnan(out[0, 0]) and np.isfinite(out[0, 1:]).all() and np.isfinite(out[1]).all()


def test_gem_exponent_is_one_shared_trainable_weight():
    layer = GridPooling((3, 1), "gem", p=2.5)
    layer(np.ones((1, 6, 3, 2), "float32"))
    assert [w.name for w in layer.trainable_weights] == ["p"]
    assert float(keras.ops.convert_to_numpy(layer.p)) == 2.5
    avg = GridPooling((3, 1), "avg")
    avg(np.ones((1, 6, 3, 2), "float32"))
    assert avg.weights == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"grid": (0, 1)}, "grid must be"),
        ({"grid": (2,)}, "grid must be"),
        ({"grid": (1.5, 1)}, "grid must be"),
        ({"grid": "2x1"}, "grid must be"),
        ({"grid": (True, 1)}, "grid must be"),
        ({"pooling": "median"}, "pooling='median'"),
        ({"p": 0.0}, "p must be > 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridPooling(**kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="4D input"):
        GridPooling((2, 1))(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"finer than the 2 x 3 feature map"):
        GridPooling((3, 1))(np.ones((1, 2, 3, 4), "float32"))


def test_layer_config_round_trip():
    layer = GridPooling((3, 2), "gem", p=2.0, name="cells")
    clone = GridPooling.from_config(layer.get_config())
    assert (clone.grid, clone.pooling, clone.initial_p, clone.name) == ((3, 2), "gem", 2.0, "cells")


def test_base_network_stripes_train_save_and_load(tmp_path):
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, (16, 48, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(4), 4)
    net = BaseNetwork(
        "simple_cnn",
        embedding_dim=8,
        input_shape=(48, 32, 3),
        pooling="gem",
        pooling_grid=(3, 1),
        width=0.5,
    )
    pooled = net.get_layer("pooling")  # on a 3 x 2 feature map of 128 channels
    assert isinstance(pooled, GridPooling) and pooled.output.shape == (None, 3 * 128)
    assert net.get_config()["width"] == 0.5 and net.image_shape == (48, 32, 3)
    net.compile(optimizer="adam", loss=BatchHardTripletLoss(0.3))
    net.fit(batch, labels, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "stripes.keras"
    net.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, BaseNetwork) and loaded.pooling_grid == (3, 1)
    assert loaded.get_config()["pooling_grid"] == [3, 1]
    assert loaded.backbone.output.shape[-1] == 128
    np.testing.assert_allclose(loaded.encode(batch), net.encode(batch), rtol=1e-5, atol=1e-6)


def test_base_network_grid_one_keeps_the_global_layer():
    net = BaseNetwork("simple_cnn", embedding_dim=4, input_shape=(16, 16, 3), pooling="gem")
    assert type(net.get_layer("pooling")) is GeneralizedMeanPooling
    assert net.pooling_grid == (1, 1)


def test_base_network_grid_errors():
    with pytest.raises(
        ValueError, match=r"pooling_grid=\(2, 1\) is finer than the backbone's 1 x 1"
    ):
        BaseNetwork("simple_cnn", input_shape=(16, 16, 3), pooling_grid=(2, 1))
    with pytest.raises(ValueError, match="pooling_grid must be"):
        BaseNetwork("simple_cnn", input_shape=(16, 16, 3), pooling_grid=(0, 1))
    vector = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="needs a backbone with a feature map"):
        BaseNetwork(vector, input_shape=(16, 16, 3), pooling_grid=(2, 1))
