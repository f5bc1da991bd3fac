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
