"""paired_distance / PairDistance: the distance vocabulary of embedding_net.distances."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net.distances import EuclideanDistance, LpDistance
from embedding_net.layers import PAIR_DISTANCES, PairDistance, paired_distance


def _ab():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 4)).astype("float32")
    b = rng.normal(size=(5, 4)).astype("float32")
    b[0] = a[0]
    return a, b


def _expected(a, b, name):
    diff = np.sum((a - b) ** 2, 1)
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {
        "L2": np.sqrt(diff),
        "squared-L2": diff,
        "angular": np.maximum(1 - cos, 0),
        "cosine": cos,
        "dot": np.sum(a * b, 1),
    }[name]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("L2", "L2"),
        ("euclidean", "L2"),
        ("squared-L2", "squared-L2"),
        ("squared_euclidean", "squared-L2"),
        ("Squared-Euclidean", "squared-L2"),
        ("angular", "angular"),
        ("cosine", "cosine"),
        ("dot", "dot"),
    ],
)
def test_names_mean_what_get_distance_means(name, kind):
    a, b = _ab()
    got = keras.ops.convert_to_numpy(paired_distance(a, b, name))
    np.testing.assert_allclose(got, _expected(a, b, kind), atol=1e-5)
    assert PairDistance(name).is_similarity == (kind in ("cosine", "dot"))


def test_every_listed_spelling_is_accepted_and_distance_objects_work():
    a, b = _ab()
    for name in PAIR_DISTANCES:
        assert paired_distance(a, b, name).shape == (5,)
    got = paired_distance(a, b, EuclideanDistance())
    np.testing.assert_allclose(got, _expected(a, b, "L2"), atol=1e-5)
    with pytest.raises(ValueError, match="not one of"):
        paired_distance(a, b, LpDistance(p=1))
    with pytest.raises(ValueError, match="distance"):
        paired_distance(a, b, "manhattan")
    with pytest.raises(ValueError, match="not one of"):
        PairDistance("manhattan")


def test_metric_argument_is_deprecated_and_keeps_its_old_meaning():
    a, b = _ab()
    with pytest.warns(DeprecationWarning, match="angular"):
        old = paired_distance(a, b, metric="cosine")  # was 1 - cos
    np.testing.assert_allclose(old, _expected(a, b, "angular"), atol=1e-5)
    with pytest.warns(DeprecationWarning):
        layer = PairDistance(metric="squared_euclidean")
    assert layer.distance == "squared-L2"


def test_config_round_trip_and_old_configs_load():
    layer = PairDistance("cosine")
    clone = PairDistance.from_config(layer.get_config())
    assert clone.distance == "cosine"
    a, b = _ab()
    np.testing.assert_allclose(clone([a, b]), layer([a, b]), atol=1e-6)
    old_config = {**layer.get_config(), "metric": "cosine"}
    old_config.pop("distance")
    with pytest.warns(DeprecationWarning):
        old = PairDistance.from_config(old_config)  # a file saved by the previous release
    assert old.distance == "angular"


def test_identical_rows_have_finite_gradients():
    import tensorflow as tf

    a, _ = _ab()
    for name in ("L2", "angular", "cosine"):
        t = tf.constant(a)
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(paired_distance(t, tf.constant(a), name))
        assert np.isfinite(tape.gradient(loss, t).numpy()).all()
