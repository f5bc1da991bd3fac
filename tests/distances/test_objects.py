"""Distance objects beyond the tensorflow-addons three: the dot product."""

from __future__ import annotations

import keras
import numpy as np

from embedding_net.distances import CosineSimilarity, DotProductSimilarity, get_distance


def test_dot_product_similarity_matches_numpy_and_round_trips():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4)).astype("float32")
    y = rng.normal(size=(3, 4)).astype("float32")
    dot = get_distance("dot")
    assert isinstance(dot, DotProductSimilarity) and dot.is_inverted
    np.testing.assert_allclose(np.asarray(dot(x)), x @ x.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dot(x, y)), x @ y.T, rtol=1e-5, atol=1e-5)
    normed = DotProductSimilarity(normalize_embeddings=True)
    np.testing.assert_allclose(
        np.asarray(normed(x, y)), np.asarray(CosineSimilarity()(x, y)), rtol=1e-5, atol=1e-5
    )
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(normed))
    assert isinstance(again, DotProductSimilarity) and again.normalize_embeddings


def test_paired_is_the_diagonal_of_the_cross_matrix_for_every_builtin():
    import pytest

    from embedding_net.distances import available_distances
    from embedding_net.distances.objects import FunctionDistance, LpDistance

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5)).astype("float32")
    y = rng.normal(size=(6, 5)).astype("float32")
    distances = [get_distance(name) for name in available_distances()]
    distances += [LpDistance(p=1.0), LpDistance(p=3.0, power=2.0), LpDistance(p=float("inf"))]
    distances += [get_distance("L2"), type(get_distance("L2"))(normalize_embeddings=True)]
    for dist in distances:
        assert dist.has_fast_paired, dist
        expected = np.diag(np.asarray(dist(x, y)))
        np.testing.assert_allclose(np.asarray(dist.paired(x, y)), expected, rtol=1e-4, atol=1e-5)
    # identical rows: 0, not the expansion's rounding noise
    assert np.asarray(get_distance("L2").paired(x, x)).max() == 0.0
    with pytest.raises(ValueError, match="one shape"):
        get_distance("L2").paired(x, y[:3])
    with pytest.raises(ValueError, match="one shape"):
        get_distance("L2").paired(x[0], y[0])
    custom = FunctionDistance(lambda e: keras.ops.matmul(e, keras.ops.transpose(e)))
    assert not custom.has_fast_paired  # its loss falls back to the matrix path
