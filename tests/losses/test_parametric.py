"""Losses with trainable weights: attached to a model, trained by its optimizer, saved with it."""

import warnings

import keras
import numpy as np
import pytest

from embedding_net.losses import (
    ArcFaceLoss,
    CenterLoss,
    MultiSimilarityLoss,
    ProxyAnchorLoss,
    attach_loss_parameters,
)
from tests.losses import modern_reference as ref
from tests.losses.mixin_model import TinyEmbedder


def _data(n=64):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, 6))
    x = (centres[labels] + 0.3 * rng.normal(size=(n, 6))).astype("float32")
    return x, labels.astype("float32")


def _functional(dim=8):
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(dim)(inputs))


def test_functional_model_trains_proxies_and_reattach_restores_them(tmp_path):
    x, y = _data()
    model = _functional()
    loss = ProxyAnchorLoss(4, 8)
    layer = attach_loss_parameters(model, loss)
    assert model.loss_layer is layer
    assert any(v is loss.weight_matrix for v in model.trainable_variables)
    before = ref.to_numpy(loss.weight_matrix).copy()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.abs(ref.to_numpy(loss.weight_matrix) - before).max() > 1e-3

    path = str(tmp_path / "functional.keras")
    model.save(path)
    with warnings.catch_warnings():  # documented: the optimizer state is not restored here
        warnings.simplefilter("ignore", UserWarning)
        loaded = keras.saving.load_model(path)
        # a plain functional model gets a fresh loss on loading; the documented recipe
        # restores it
        attach_loss_parameters(loaded, loaded.loss)
        loaded.load_weights(path)
    np.testing.assert_allclose(
        ref.to_numpy(loaded.loss.weight_matrix), ref.to_numpy(loss.weight_matrix)
    )


def test_mixin_model_round_trips_loss_weights_through_load_model(tmp_path):
    x, y = _data()
    model = TinyEmbedder()
    model.build((None, 6))
    loss = ArcFaceLoss(4, 8, margin=0.2, scale=8.0)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    assert model.loss_layer is loss.layer
    before = ref.to_numpy(loss.weight_matrix).copy()
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.abs(ref.to_numpy(loss.weight_matrix) - before).max() > 1e-3

    path = str(tmp_path / "mixin.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True
    assert isinstance(loaded.loss, ArcFaceLoss) and loaded.loss_layer is loaded.loss.layer
    np.testing.assert_allclose(
        ref.to_numpy(loaded.loss.weight_matrix), ref.to_numpy(loss.weight_matrix)
    )
    emb = model.predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), emb, rtol=1e-6)
    np.testing.assert_allclose(float(loaded.loss(y, emb)), float(loss(y, emb)), rtol=1e-6)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)  # optimizer state restored, trains on


def test_attach_builds_from_the_model_output_and_validates():
    model = _functional(dim=5)
    loss = CenterLoss(3)
    attach_loss_parameters(model, loss)
    assert tuple(loss.weight_matrix.shape) == (3, 5) and loss.embedding_dim == 5
    with pytest.raises(ValueError, match="ParametricLoss"):
        attach_loss_parameters(model, MultiSimilarityLoss())
