import numpy as np
import pytest

from embedding_net.losses import ProxyAnchorLoss, ProxyNCALoss, proxy_anchor_loss, proxy_nca_loss
from tests.losses import modern_reference as ref


def _data(seed, n=12, d=6, classes=6, present=4):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, present, n),
        rng.normal(size=(n, d)).astype("float32"),
        rng.normal(size=(classes, d)).astype("float32"),
    )


@pytest.mark.parametrize("alpha,margin", [(32.0, 0.1), (8.0, 0.3)])
def test_proxy_anchor_matches_numpy(alpha, margin):
    labels, x, p = _data(0)  # classes 4 and 5 have no sample: only in the negative term
    got = float(proxy_anchor_loss(labels, x, p, alpha=alpha, margin=margin))
    np.testing.assert_allclose(got, ref.proxy_anchor(labels, x, p, alpha, margin), rtol=1e-4)
    loss = ProxyAnchorLoss(6, 6, alpha=alpha, margin=margin)
    loss.layer.set_weights([p])
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), got, rtol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 9.0])
def test_proxy_nca_matches_numpy(scale):
    labels, x, p = _data(1)
    got = ref.to_numpy(proxy_nca_loss(labels, x, p, scale=scale))
    np.testing.assert_allclose(got, ref.proxy_nca(labels, x, p, scale), rtol=1e-4, atol=1e-5)
    loss = ProxyNCALoss(6, 6, scale=scale)
    loss.layer.set_weights([p])
    np.testing.assert_allclose(float(loss(labels.astype("float32"), x)), got.mean(), rtol=1e-4)
