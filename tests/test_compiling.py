"""compile_from_config: the one re-compile path of every model with an overridden ``compile``
(BaseNetwork, SiameseModel, TripletModel, ClassifierTrainingModel)."""

import logging

import keras
import numpy as np
import pytest

from embedding_net.compiling import compile_from_config
from embedding_net.heads import ArcFaceHead
from embedding_net.losses import TripletSemiHardLoss
from embedding_net.models import BaseNetwork, ClassifierTrainingModel
from tests.losses.mixin_model import TinyEmbedder
from tests.models.helpers import edit_saved_config

WARNING = "loaded without its training configuration"


def _data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 8)
    return rng.normal(size=(32, 6)).astype("float32") + labels[:, None], labels.astype("float32")


def _trained(kind):
    """A trained model of each kind and its inputs/labels."""
    x, y = _data()
    if kind == "base_network":
        rng = np.random.default_rng(1)
        images = rng.integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
        model = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TripletSemiHardLoss())
        x = images
    else:
        network = TinyEmbedder()
        network.build((None, 6))
        model = ClassifierTrainingModel(network, ArcFaceHead(4, 8))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    return model, x, y


def _values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize("kind", ["base_network", "classifier"])
def test_loaded_model_is_recompiled_with_its_optimizer_state(tmp_path, recwarn, kind):
    model, x, y = _trained(kind)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert not [w for w in recwarn if "Skipping variable loading" in str(w.message)]
    assert type(loaded.optimizer) is keras.optimizers.Adam
    assert type(loaded.loss) is type(model.loss)
    for a, b in zip(_values(loaded.optimizer.variables), _values(model.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)


def _unknown_optimizer(config):
    """As if the saved optimizer's class were not importable here."""
    config["compile_config"]["optimizer"] = {
        "module": "no_such_package.optimizers",
        "class_name": "NoSuchOptimizer",
        "config": {},
        "registered_name": "no_such_package>NoSuchOptimizer",
    }


@pytest.mark.parametrize("kind", ["base_network", "classifier"])
def test_unknown_optimizer_loads_uncompiled_with_a_warning(tmp_path, caplog, kind):
    model, x, y = _trained(kind)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    edit_saved_config(path, _unknown_optimizer)
    with caplog.at_level(logging.WARNING, logger="embedding_net.compiling"):
        loaded = keras.saving.load_model(path)
    messages = [r.getMessage() for r in caplog.records if r.name == "embedding_net.compiling"]
    assert len(messages) == 1 and WARNING in messages[0] and "NoSuchOptimizer" in messages[0]
    assert getattr(loaded, "optimizer", None) is None
    # the weights are there; compiling again makes it trainable
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    loaded.compile(optimizer="adam", loss=model.loss)  # (None for the classifier model)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)


def test_compile_from_config_builds_the_optimizer_on_the_trainable_variables():
    def frozen_model():
        network = TinyEmbedder()
        network.build((None, 6))
        network.dense.trainable = False
        return ClassifierTrainingModel(network, ArcFaceHead(4, 8))

    model = frozen_model()
    model.compile(optimizer="adam")
    config = model.get_compile_config()
    fresh = frozen_model()
    compile_from_config(fresh, config)
    assert fresh.optimizer.built
    # ArcFace's class matrix is the only trainable variable: Adam keeps two slots for it
    assert [tuple(v.shape) for v in fresh.trainable_variables] == [(4, 8)]
    slots = [v for v in fresh.optimizer.variables if tuple(v.shape) == (4, 8)]
    assert len(slots) == 2
    assert isinstance(fresh.head, ArcFaceHead) and fresh.trainable_variables[0] is (
        fresh.head.weight_matrix
    )
