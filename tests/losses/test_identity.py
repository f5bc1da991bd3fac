import keras
import numpy as np
import pytest

from embedding_net import losses
from embedding_net.losses import (
    IdentityCrossEntropy,
    IdentitySoftmaxLoss,
    identity_cross_entropy,
    identity_softmax_loss,
)
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


def _softmax_data(seed=0, n=9, c=6, d=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.normal(size=(c, d)).astype("float32")
    return rng.integers(0, c, n), x, w


@pytest.mark.parametrize("eps, scale", [(0.0, 1.0), (0.1, 16.0), (1.0, 4.0)])
def test_identity_softmax_matches_numpy(eps, scale):
    labels, x, w = _softmax_data()
    logits = scale * x.astype("float64") @ w.T.astype("float64")  # brute force, float64
    want = ref.smoothed_cross_entropy(labels, logits, eps)
    got = ref.to_numpy(identity_softmax_loss(labels, x, w, label_smoothing=eps, scale=scale))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    loss = IdentitySoftmaxLoss(6, 5, label_smoothing=eps, scale=scale)
    loss.layer.set_weights([w])
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), want.mean(), rtol=1e-5)


def test_identity_softmax_gradient_matches_numpy():
    labels, x, w = _softmax_data(1)
    eps, scale = 0.1, 10.0
    z = scale * x.astype("float64") @ w.T.astype("float64")
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = np.full_like(p, eps / w.shape[0])
    q[np.arange(len(labels)), labels] += 1 - eps
    dz = (p - q) / len(labels)  # d mean(L) / d z
    want_dx, want_dw = scale * dz @ w, scale * dz.T @ x
    loss = IdentitySoftmaxLoss(6, 5, label_smoothing=eps, scale=scale)
    loss.layer.set_weights([w])
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        xv = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = loss(labels.astype("float32"), xv)
        dx, dw = tape.gradient(value, [xv, loss.layer.weight_matrix.value])
        dx, dw = dx.numpy(), dw.numpy()
    else:
        import jax

        def fn(xx, ww):
            return identity_softmax_loss(labels, xx, ww, eps, scale).mean()

        dx, dw = (np.asarray(g) for g in jax.grad(fn, argnums=(0, 1))(x, w))
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-4, atol=1e-6)


def test_identity_softmax_edge_cases_and_validation():
    _, x, w = _softmax_data(2)
    # one class: every sample is certain (log-softmax over one logit is 0)
    got = ref.to_numpy(identity_softmax_loss(np.zeros(9, int), x, w[:1], label_smoothing=0.1))
    np.testing.assert_allclose(got, 0.0, atol=1e-6)
    # identical embeddings give identical losses for the same label
    same = np.repeat(x[:1], 4, axis=0)
    got = ref.to_numpy(identity_softmax_loss(np.array([2, 2, 2, 2]), same, w))
    np.testing.assert_allclose(got, got[0], rtol=1e-6)
    assert ref.to_numpy(identity_softmax_loss(np.zeros(0, int), x[:0], w)).shape == (0,)
    with pytest.raises(ValueError, match="scale"):
        IdentitySoftmaxLoss(3, scale=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        IdentitySoftmaxLoss(3, label_smoothing=-0.1)
    with pytest.raises(ValueError, match="num_classes"):
        IdentitySoftmaxLoss(0)
    assert isinstance(losses.get("identity-softmax", num_classes=3), IdentitySoftmaxLoss)
