"""Deprecated losses with trainable weights: they warn, hold a head of embedding_net.heads and
compute its numbers; their weights train and round-trip through ClassifierTrainingModel
(which replaced attach_loss_parameters / LossParametersMixin)."""

import warnings

import keras
import numpy as np
import pytest

from embedding_net import heads
from embedding_net.losses import (
    ArcFaceLoss,
    CenterLoss,
    CombinedLoss,
    MultiSimilarityLoss,
    ProxyAnchorLoss,
)
from embedding_net.losses.parametric import find_parametric_losses
from embedding_net.models import ClassifierTrainingModel
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


def _quiet(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return make()


def test_functional_network_trains_proxies_and_load_model_restores_them(tmp_path):
    x, y = _data()
    loss = _quiet(lambda: ProxyAnchorLoss(4, 8))
    model = ClassifierTrainingModel(_functional(), loss.layer)  # the deprecated loss's head
    assert isinstance(loss.layer, heads.ProxyAnchorHead)
    assert any(v is loss.weight_matrix for v in model.trainable_variables)
    before = ref.to_numpy(loss.weight_matrix).copy()
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.abs(ref.to_numpy(loss.weight_matrix) - before).max() > 1e-3
    # the trained loss and the model's head are one object: same numbers
    emb = model.predict(x, verbose=0)
    np.testing.assert_allclose(float(loss(y, emb)), float(model.head(emb, y)), rtol=1e-6)

    path = str(tmp_path / "functional.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # no re-attach step any more
    np.testing.assert_allclose(
        ref.to_numpy(loaded.head.weight_matrix), ref.to_numpy(loss.weight_matrix)
    )


def test_subclassed_network_round_trips_head_weights_through_load_model(tmp_path):
    x, y = _data()
    network = TinyEmbedder()
    network.build((None, 6))
    model = ClassifierTrainingModel(network, heads.ArcFaceHead(4, 8, margin=0.2, scale=8.0))
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    before = ref.to_numpy(model.head.weight_matrix).copy()
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.abs(ref.to_numpy(model.head.weight_matrix) - before).max() > 1e-3

    path = str(tmp_path / "subclassed.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True
    assert isinstance(loaded.head, heads.ArcFaceHead)
    np.testing.assert_allclose(
        ref.to_numpy(loaded.head.weight_matrix), ref.to_numpy(model.head.weight_matrix)
    )
    emb = model.predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), emb, rtol=1e-6)
    np.testing.assert_allclose(
        ref.to_numpy(loaded.head(emb, y)), ref.to_numpy(model.head(emb, y)), rtol=1e-6
    )
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)  # optimizer state restored, trains on


def test_head_builds_from_the_network_output():
    model = ClassifierTrainingModel(_functional(dim=5), heads.CenterHead(3))
    assert tuple(model.head.weight_matrix.shape) == (3, 5) and model.head.embedding_dim == 5
    loss = _quiet(lambda: CenterLoss(3))
    loss(np.zeros(2, "float32"), np.ones((2, 7), "float32"))  # the deprecated loss: lazily
    assert loss.embedding_dim == 7 and tuple(loss.weight_matrix.shape) == (3, 7)


def test_deprecation_warning_names_the_head():
    with pytest.warns(DeprecationWarning, match=r"heads\.ArcFaceHead.*ClassifierTrainingModel"):
        ArcFaceLoss(3)


def test_find_parametric_losses():
    arc = _quiet(lambda: ArcFaceLoss(3))
    center = _quiet(lambda: CenterLoss(3))
    combined = CombinedLoss([MultiSimilarityLoss(), center])
    assert find_parametric_losses(arc) == [arc]
    assert find_parametric_losses([MultiSimilarityLoss(), {"a": combined}]) == [center]
    assert find_parametric_losses(MultiSimilarityLoss()) == []
