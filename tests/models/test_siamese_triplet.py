import keras
import numpy as np
import pytest

from embedding_net.layers import paired_distance
from embedding_net.models import BaseNetwork, SiameseModel, TripletModel
from tests.models.helpers import class_images, make_pairs, make_triplets


def net(dim=8):
    return BaseNetwork("simple_cnn", embedding_dim=dim, input_shape=(16, 16, 3))


@pytest.fixture(scope="module")
def data():
    images, labels = class_images(num_classes=4, per_class=12)
    return images, labels


def test_distance_head_outputs_embedding_distance(data):
    images, labels = data
    x1, x2, y = make_pairs(images, labels)
    model = SiameseModel(net(), head="distance")
    raw = model.predict_raw((x1, x2))
    e1, e2 = model.network.encode(x1), model.network.encode(x2)
    np.testing.assert_allclose(raw, np.linalg.norm(e1 - e2, axis=1), atol=1e-5)
    # predict gives the cosine similarity of the (unit) embeddings
    np.testing.assert_allclose(model.predict((x1, x2), verbose=0), np.sum(e1 * e2, 1), atol=1e-5)
    np.testing.assert_allclose(model.distance(x1, x2), raw, atol=1e-6)


def test_distance_head_contrastive_fit_lowers_loss(data):
    images, labels = data
    x1, x2, y = make_pairs(images, labels)
    model = SiameseModel(net(), head="distance", margin=1.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    history = model.fit((x1, x2), y, batch_size=32, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert "accuracy" in history.history
    result = model.evaluate((x1, x2), y, verbose=0, return_dict=True)
    assert set(result) >= {"loss", "accuracy"}


def test_merge_head_with_contrastive_term(data):
    images, labels = data
    x1, x2, y = make_pairs(images, labels)
    model = SiameseModel(net(), head="merge", contrastive_weight=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    history = model.fit((x1, x2), y, batch_size=32, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    scores = model.predict((x1, x2), verbose=0)
    assert scores.shape == (len(y),) and ((scores > 0) & (scores < 1)).all()
    # the total loss is BCE + 0.5 * contrastive on the embedding distances (checked by hand)
    raw = model.predict_raw((x1, x2))
    p, d = np.clip(raw[:, 0], 1e-7, 1 - 1e-7), raw[:, 1]
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    contrastive = np.mean(y * d**2 + (1 - y) * np.maximum(1.0 - d, 0) ** 2)
    got = model.evaluate((x1, x2), y, batch_size=len(y), verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(got, bce + 0.5 * contrastive, rtol=1e-4)


def test_triplet_model_fit_and_outputs(data):
    images, labels = data
    a, p, n = make_triplets(images, labels)
    model = TripletModel(net(), margin=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    out = model.predict((a, p, n), verbose=0)
    ea, ep, en = (model.encode(x) for x in (a, p, n))
    np.testing.assert_allclose(out[:, 0], np.linalg.norm(ea - ep, axis=1), atol=1e-5)
    np.testing.assert_allclose(out[:, 1], np.linalg.norm(ea - en, axis=1), atol=1e-5)
    expected = np.mean(np.maximum(out[:, 0] - out[:, 1] + 0.5, 0))
    got = model.evaluate((a, p, n), batch_size=len(a), verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], expected, rtol=1e-4)
    np.testing.assert_allclose(got["triplet_accuracy"], np.mean(out[:, 0] < out[:, 1]), atol=1e-6)
    history = model.fit((a, p, n), batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_triplet_model_rejects_a_loss():
    with pytest.raises(ValueError, match="own triplet margin loss"):
        TripletModel(net()).compile(loss="mse")


@pytest.mark.parametrize("inputs, match", [(3, "expects inputs"), (1, "expects inputs")])
def test_wrong_number_of_inputs(data, inputs, match):
    images, _ = data
    model = SiameseModel(net())
    with pytest.raises(ValueError, match=match):
        model(tuple(images[:2] for _ in range(inputs)))
    with pytest.raises(ValueError, match="expects inputs"):
        TripletModel(net())((images[:2], images[:2]))


def test_mismatched_batch_sizes_and_ranks(data):
    images, _ = data
    with pytest.raises(ValueError, match="same batch size"):
        SiameseModel(net())((images[:2], images[:3]))
    with pytest.raises(ValueError, match="same rank"):
        SiameseModel(net())((images[:2], images[0]))
    with pytest.raises(ValueError):
        SiameseModel(net()).fit((images[:4], images[:5]), np.ones(4), verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"head": "concat"}, "head"),
        ({"distance": "manhattan"}, "distance"),
        ({"contrastive_weight": 1.0}, "contrastive_weight"),
    ],
)
def test_siamese_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SiameseModel(net(), **kwargs)
    with pytest.raises(ValueError, match="network"):
        SiameseModel("simple_cnn")


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "angular"])
def test_paired_distance_matches_numpy_with_finite_gradient(metric):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 4)).astype("float32")
    b = rng.normal(size=(5, 4)).astype("float32")
    b[0] = a[0]  # identical pair: distance 0
    got = keras.ops.convert_to_numpy(paired_distance(a, b, metric))
    diff = np.sum((a - b) ** 2, 1)
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    expected = {"euclidean": np.sqrt(diff), "squared_euclidean": diff, "angular": 1 - cos}[metric]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    grad = gradient(lambda t: keras.ops.sum(paired_distance(t, b, metric)), a)
    assert np.isfinite(grad).all()


def gradient(fn, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = fn(t)
        return tape.gradient(y, t).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    import torch

    t = torch.tensor(x, requires_grad=True)
    fn(t).backward()
    return t.grad.numpy()
