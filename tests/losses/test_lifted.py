import numpy as np

from embedding_net.losses import (
    GeneralizedLiftedStructureLoss,
    LiftedStructureLoss,
    generalized_lifted_structure_loss,
    lifted_structure_loss,
)
from tests.losses import modern_reference as ref


def _batch(seed, n=12, d=6, classes=3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n), (0.4 * rng.normal(size=(n, d))).astype("float32")


def test_lifted_matches_paper_formula():
    labels, x = _batch(0)
    per_anchor, total = ref.lifted_structure(labels, x, 0.0, 1.0)
    got = ref.to_numpy(lifted_structure_loss(labels, x))
    np.testing.assert_allclose(got, per_anchor, rtol=1e-4, atol=1e-5)
    value = float(LiftedStructureLoss()(labels.astype("float32"), x))
    np.testing.assert_allclose(value, total, rtol=1e-4)


def test_lifted_with_margins():
    labels, x = _batch(1)
    per_anchor, _ = ref.lifted_structure(labels, x, 0.2, 1.5)
    got = ref.to_numpy(lifted_structure_loss(labels, x, pos_margin=0.2, neg_margin=1.5))
    np.testing.assert_allclose(got, per_anchor, rtol=1e-4, atol=1e-5)


def test_generalized_lifted_matches_numpy():
    labels, x = _batch(2)
    want = ref.generalized_lifted_structure(labels, x, 0.1, 1.2)
    got = generalized_lifted_structure_loss(labels, x, pos_margin=0.1, neg_margin=1.2)
    np.testing.assert_allclose(ref.to_numpy(got), want, rtol=1e-4, atol=1e-5)
    value = float(GeneralizedLiftedStructureLoss(0.1, 1.2)(labels.astype("float32"), x))
    np.testing.assert_allclose(value, want.mean(), rtol=1e-4)


def test_no_positive_pair_gives_zero_not_nan():
    labels = np.arange(5)
    x = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")
    assert np.all(ref.to_numpy(lifted_structure_loss(labels, x)) == 0.0)
