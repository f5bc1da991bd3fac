import keras
import numpy as np
import pytest

from embedding_net.losses import CircleLoss, circle_loss
from tests.losses import modern_reference as ref


def _batch(seed, n=16, d=8, classes=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    return rng.integers(0, classes, n), x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("gamma,margin", [(80.0, 0.4), (32.0, 0.25)])
def test_matches_keras_circle_and_numpy(gamma, margin):
    labels, x = _batch(0)
    got = ref.to_numpy(circle_loss(labels, x, gamma=gamma, margin=margin))
    keras_value = ref.to_numpy(keras.losses.circle(labels, x, gamma=gamma, margin=margin))
    np.testing.assert_allclose(got, keras_value, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got, ref.circle(labels, x, gamma, margin), rtol=1e-4, atol=1e-3)


def test_class_equals_keras_class_including_mask_reduction():
    labels, x = _batch(1, classes=8)
    labels[0] = 99  # an anchor without positive: loss 0, masked out of the mean
    ours = float(CircleLoss()(labels.astype("float32"), x))
    theirs = float(keras.losses.Circle()(labels, x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_anchor_without_positive_is_zero():
    labels = np.array([0, 1, 1, 2])
    x = np.eye(4, 3, dtype="float32") + 0.1
    got = ref.to_numpy(circle_loss(labels, x))
    assert got[0] == 0.0 and got[3] == 0.0 and np.all(got[1:3] > 0)


def test_no_private_keras_api_and_explicit_mean_over_nonzero_anchors():
    import inspect

    from embedding_net.losses import circle as module

    assert "keras.src" not in inspect.getsource(module)
    labels, x = _batch(2, classes=8)
    labels[:2] = [98, 99]  # two anchors without positive
    per_anchor = ref.to_numpy(circle_loss(labels, x))
    assert np.count_nonzero(per_anchor) < len(per_anchor)
    mean = float(CircleLoss()(labels.astype("float32"), x))
    np.testing.assert_allclose(mean, per_anchor.sum() / np.count_nonzero(per_anchor), rtol=1e-5)
    total = float(CircleLoss(reduction="sum")(labels.astype("float32"), x))
    np.testing.assert_allclose(total, per_anchor.sum(), rtol=1e-5)
    w = np.linspace(0.5, 1.5, len(labels)).astype("float32")
    weighted = float(CircleLoss()(labels.astype("float32"), x, sample_weight=w))
    theirs = float(keras.losses.Circle()(labels, x, sample_weight=w))
    np.testing.assert_allclose(weighted, theirs, rtol=1e-5)
