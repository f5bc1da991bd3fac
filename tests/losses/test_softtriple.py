import numpy as np
import pytest

from embedding_net.losses import SoftTripleLoss, softtriple_loss
from tests.losses import modern_reference as ref


@pytest.mark.parametrize("num_centers", [1, 3])
def test_matches_numpy(num_centers):
    rng = np.random.default_rng(num_centers)
    labels = rng.integers(0, 4, 10)
    x = rng.normal(size=(10, 6)).astype("float32")
    w = rng.normal(size=(4 * num_centers, 6)).astype("float32")
    got = ref.to_numpy(softtriple_loss(labels, x, w, num_centers=num_centers))
    want = ref.softtriple(labels, x, w, num_centers)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    loss = SoftTripleLoss(4, 6, num_centers=num_centers)
    loss.layer.set_weights([w])
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), want.mean(), rtol=1e-4)


def test_other_hyper_parameters():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, 8)
    x = rng.normal(size=(8, 5)).astype("float32")
    w = rng.normal(size=(3 * 2, 5)).astype("float32")
    kwargs = dict(scale=5.0, gamma=0.5, reg_weight=1.0, margin=0.2)
    got = ref.to_numpy(softtriple_loss(labels, x, w, num_centers=2, **kwargs))
    np.testing.assert_allclose(got, ref.softtriple(labels, x, w, 2, **kwargs), rtol=1e-4, atol=1e-5)
