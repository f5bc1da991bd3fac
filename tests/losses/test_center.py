import numpy as np

from embedding_net.losses import CenterLoss, center_loss
from tests.losses import modern_reference as ref


def test_matches_numpy_and_starts_at_zero_centres():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 9)
    x = rng.normal(size=(9, 4)).astype("float32")
    c = rng.normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(
        ref.to_numpy(center_loss(labels, x, c)), ref.center(labels, x, c), rtol=1e-5
    )
    loss = CenterLoss(3, 4)
    np.testing.assert_array_equal(ref.to_numpy(loss.weight_matrix), np.zeros((3, 4)))
    expected = 0.5 * (x.astype(np.float64) ** 2).sum(1).mean()
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), expected, rtol=1e-5)


def test_gradient_pulls_towards_centre():
    x = np.array([[1.0, 2.0], [3.0, -1.0]], "float32")
    c = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
    _, grad = ref.value_and_grad(lambda v: center_loss(np.array([0, 1]), v, c), x)
    np.testing.assert_allclose(grad, x - c, rtol=1e-6)
