import numpy as np
import pytest

from embedding_net.losses import SupervisedContrastiveLoss, supervised_contrastive_loss
from tests.losses import modern_reference as ref


def _batch(seed, n=12, d=6, classes=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n), rng.normal(size=(n, d)).astype("float32")


@pytest.mark.parametrize("temperature,base", [(0.1, 0.07), (0.5, 0.5)])
def test_matches_numpy(temperature, base):
    labels, x = _batch(0)
    got = ref.to_numpy(supervised_contrastive_loss(labels, x, temperature, base))
    np.testing.assert_allclose(got, ref.supcon(labels, x, temperature, base), rtol=1e-4, atol=1e-5)
    value = float(SupervisedContrastiveLoss(temperature, base)(labels.astype("float32"), x))
    np.testing.assert_allclose(value, ref.supcon(labels, x, temperature, base).mean(), rtol=1e-4)


def test_reference_set():
    labels, x = _batch(1)
    ref_labels, ref_x = _batch(2, n=8)
    valid = np.arange(8) % 3 != 0
    got = supervised_contrastive_loss(
        labels, x, ref_labels=ref_labels, ref_embeddings=ref_x, ref_valid=valid
    )
    want = ref.supcon(labels, x, ref=(ref_labels, ref_x, valid))
    np.testing.assert_allclose(ref.to_numpy(got), want, rtol=1e-4, atol=1e-5)


def test_singletons_give_zero():
    x = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")
    assert np.all(ref.to_numpy(supervised_contrastive_loss(np.arange(5), x)) == 0.0)
