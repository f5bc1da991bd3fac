import numpy as np
import pytest

from embedding_net.losses import (
    InfoNCELoss,
    NPairsLoss,
    NTXentLoss,
    info_nce_loss,
    npairs_loss,
    ntxent_loss,
)
from tests.losses import modern_reference as ref


def _batch(seed, n=12, d=6, classes=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n), rng.normal(size=(n, d)).astype("float32")


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_ntxent_matches_numpy(temperature):
    labels, x = _batch(0)
    got = ref.to_numpy(ntxent_loss(labels, x, temperature=temperature))
    np.testing.assert_allclose(got, ref.ntxent(labels, x, temperature), rtol=1e-4, atol=1e-5)


def test_ntxent_two_views_is_simclr():
    # SimCLR NT-Xent by hand: 2N views, view i and i+N are the positive pair
    rng = np.random.default_rng(1)
    n = 4
    x = rng.normal(size=(2 * n, 5)).astype("float32")
    labels = np.concatenate([np.arange(n), np.arange(n)])
    s = ref.cosine(x, x) / 0.5
    want = []
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        want.append(-(s[i, p] - np.logaddexp.reduce(s[i, others])))
    value = float(NTXentLoss(temperature=0.5)(labels.astype("float32"), x))
    np.testing.assert_allclose(value, np.mean(want), rtol=1e-5)
    assert info_nce_loss is ntxent_loss
    assert float(InfoNCELoss(temperature=0.5)(labels.astype("float32"), x)) == pytest.approx(value)


def test_ntxent_reference_set():
    labels, x = _batch(2)
    ref_labels, ref_x = _batch(3, n=9)
    valid = np.arange(9) < 6
    got = ntxent_loss(labels, x, 0.2, ref_labels=ref_labels, ref_embeddings=ref_x, ref_valid=valid)
    want = ref.ntxent(labels, x, 0.2, ref=(ref_labels, ref_x, valid))
    np.testing.assert_allclose(ref.to_numpy(got), want, rtol=1e-4, atol=1e-5)


def test_npairs_matches_numpy_and_tfa_layout():
    labels, x = _batch(4)
    x = 0.3 * x
    got = ref.to_numpy(npairs_loss(labels, x, l2_reg=0.01))
    np.testing.assert_allclose(got, ref.npairs(labels, x, 0.01), rtol=1e-4, atol=1e-5)
    assert float(NPairsLoss(l2_reg=0.01)(labels.astype("float32"), x)) == pytest.approx(
        got.mean(), rel=1e-5
    )


def test_temperature_is_validated():
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=0.0)
