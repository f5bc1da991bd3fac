import keras
import numpy as np
import pytest

from embedding_net.losses import IdentityCrossEntropy, identity_cross_entropy
from tests.losses import modern_reference as ref


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_matches_numpy(eps):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(10, 7)).astype("float32") * 3
    labels = rng.integers(0, 7, 10)
    got = ref.to_numpy(identity_cross_entropy(labels, logits, label_smoothing=eps))
    np.testing.assert_allclose(got, ref.smoothed_cross_entropy(labels, logits, eps), rtol=1e-5)


def test_agrees_with_keras_categorical_crossentropy_smoothing():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 5)).astype("float32")
    labels = rng.integers(0, 5, 8)
    ours = float(IdentityCrossEntropy(0.2)(labels.astype("float32"), logits))
    theirs = float(
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(
            np.eye(5)[labels], logits
        )
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_probabilities_input_and_validation():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    got = ref.to_numpy(
        identity_cross_entropy([0, 2], probs, label_smoothing=0.0, from_logits=False)
    )
    np.testing.assert_allclose(got, -np.log([0.7, 0.8]), rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        IdentityCrossEntropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="logits"):
        identity_cross_entropy([0], np.zeros((3,), "float32"))
