import numpy as np
import pytest

from embedding_net.losses import MultiSimilarityLoss, multi_similarity_loss
from embedding_net.miners import MultiSimilarityMiner
from tests.losses import modern_reference as ref


def _batch(seed, n=16, d=8, classes=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n), rng.normal(size=(n, d)).astype("float32")


@pytest.mark.parametrize("epsilon", [None, 0.1, 0.5])
def test_matches_numpy_reference(epsilon):
    labels, x = _batch(0)
    got = ref.to_numpy(multi_similarity_loss(labels, x, epsilon=epsilon))
    want = ref.multi_similarity(labels, x, epsilon=epsilon)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_non_default_scales_and_class_mean():
    labels, x = _batch(1)
    kwargs = dict(alpha=3.0, beta=20.0, base=0.3, epsilon=None)
    want = ref.multi_similarity(labels, x, **kwargs)
    got = float(MultiSimilarityLoss(**kwargs)(labels.astype("float32"), x))
    np.testing.assert_allclose(got, want.mean(), rtol=1e-4)


def test_mining_changes_the_value_and_miner_object_matches_builtin_rule():
    labels, x = _batch(2)
    mined = ref.to_numpy(multi_similarity_loss(labels, x, epsilon=0.1))
    all_pairs = ref.to_numpy(multi_similarity_loss(labels, x, epsilon=None))
    assert not np.allclose(mined, all_pairs)
    via_miner = multi_similarity_loss(labels, x, epsilon=None, miner=MultiSimilarityMiner(0.1))
    np.testing.assert_allclose(ref.to_numpy(via_miner), mined, rtol=1e-5, atol=1e-6)


def test_reference_set_matches_numpy():
    labels, x = _batch(3)
    ref_labels, ref_x = _batch(4, n=10)
    valid = np.array([True] * 7 + [False] * 3)
    got = multi_similarity_loss(
        labels, x, ref_labels=ref_labels, ref_embeddings=ref_x, ref_valid=valid
    )
    want = ref.multi_similarity(labels, x, ref=(ref_labels, ref_x, valid))
    np.testing.assert_allclose(ref.to_numpy(got), want, rtol=1e-4, atol=1e-5)


def test_distance_variant_uses_negated_distance():
    labels, x = _batch(5)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    # for unit vectors, squared L2 = 2 - 2 cos: with base b' = 2 - 2 b, -D - (-b') = 2 (S - b)
    got = ref.to_numpy(
        multi_similarity_loss(
            labels, x, alpha=1.0, beta=25.0, base=1.0, epsilon=None, distance="squared-L2"
        )
    )
    want = ref.multi_similarity(labels, x, alpha=2.0, beta=50.0, base=0.5, epsilon=None)
    # the scales double because D = 2 - 2 S: alpha=1 on D equals alpha=2 on S, but 1/alpha doubles
    np.testing.assert_allclose(got, 2.0 * want, rtol=1e-3, atol=1e-4)


def test_bad_distance_is_rejected():
    with pytest.raises(ValueError, match="distance"):
        MultiSimilarityLoss(distance="manhattan-ish")
