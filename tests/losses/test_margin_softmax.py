import numpy as np
import pytest

from embedding_net.losses import (
    ArcFaceLoss,
    CosFaceLoss,
    SubCenterArcFaceLoss,
    arcface_loss,
    cosface_loss,
)
from tests.losses import modern_reference as ref


def _data(seed, n=10, d=6, rows=5):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 5, n),
        rng.normal(size=(n, d)).astype("float32"),
        rng.normal(size=(rows, d)).astype("float32"),
    )


@pytest.mark.parametrize("margin,scale", [(0.5, 64.0), (0.3, 10.0), (2.5, 8.0)])
def test_arcface_matches_numpy(margin, scale):
    # margin 2.5 pushes most targets past pi: checks the insightface fallback branch
    labels, x, w = _data(0)
    got = ref.to_numpy(arcface_loss(labels, x, w, margin=margin, scale=scale))
    np.testing.assert_allclose(got, ref.arcface(labels, x, w, margin, scale), rtol=1e-4, atol=1e-3)


def test_sub_center_arcface_matches_numpy():
    labels, x, w = _data(1, rows=15)
    got = ref.to_numpy(arcface_loss(labels, x, w, margin=0.4, scale=16.0, num_centers=3))
    want = ref.arcface(labels, x, w, 0.4, 16.0, num_centers=3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    loss = SubCenterArcFaceLoss(5, 6, num_centers=3, margin=0.4, scale=16.0)
    loss.layer.set_weights([w])
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), want.mean(), rtol=1e-4)


def test_cosface_matches_numpy_and_class_uses_its_weights():
    labels, x, w = _data(2)
    want = ref.cosface(labels, x, w, 0.35, 30.0)
    np.testing.assert_allclose(
        ref.to_numpy(cosface_loss(labels, x, w, 0.35, 30.0)), want, rtol=1e-4, atol=1e-5
    )
    loss = CosFaceLoss(5, 6, margin=0.35, scale=30.0)
    loss.layer.set_weights([w])
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), want.mean(), rtol=1e-4)


def test_arcface_class_builds_lazily_and_validates():
    labels, x, w = _data(3)
    loss = ArcFaceLoss(5)
    assert not loss.layer.built
    loss(labels.astype("float32"), x)
    assert tuple(loss.weight_matrix.shape) == (5, 6)
    with pytest.raises(ValueError, match="num_classes"):
        ArcFaceLoss(0)
    with pytest.raises(ValueError, match="embedding_dim"):
        ArcFaceLoss(3, embedding_dim=-2)
