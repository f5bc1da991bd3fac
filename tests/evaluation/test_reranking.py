"""Re-ranking against a straight port of the authors' numpy code; query expansion; flip TTA."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.evaluation import (
    average_query_expansion,
    encode_with_flip,
    k_reciprocal_rerank,
    reid_metrics_from_distances,
)


def reference_re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """Port of re_ranking() from Zhong et al.'s person-re-ranking repository (numpy version)."""
    original_dist = np.concatenate(
        [
            np.concatenate([q_q_dist, q_g_dist], axis=1),
            np.concatenate([q_g_dist.T, g_g_dist], axis=1),
        ],
        axis=0,
    )
    original_dist = np.power(original_dist, 2).astype(np.float32)
    original_dist = np.transpose(1.0 * original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float32)  # noqa: N806
    initial_rank = np.argsort(original_dist).astype(np.int32)
    query_num = q_g_dist.shape[0]
    gallery_num = q_g_dist.shape[0] + q_g_dist.shape[1]
    all_num = gallery_num
    for i in range(all_num):
        forward_k_neigh_index = initial_rank[i, : k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, : k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            half = int(np.around(k1 / 2.0))
            candidate_forward_k_neigh_index = initial_rank[candidate, : half + 1]
            candidate_backward_k_neigh_index = initial_rank[
                candidate_forward_k_neigh_index, : half + 1
            ]
            fi_candidate = np.where(candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[fi_candidate]
            if len(
                np.intersect1d(candidate_k_reciprocal_index, k_reciprocal_index)
            ) > 2.0 / 3 * len(candidate_k_reciprocal_index):
                k_reciprocal_expansion_index = np.append(
                    k_reciprocal_expansion_index, candidate_k_reciprocal_index
                )
        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = 1.0 * weight / np.sum(weight)
    original_dist = original_dist[:query_num,]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float32)  # noqa: N806
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe  # noqa: N806
    invIndex = []  # noqa: N806
    for i in range(gallery_num):
        invIndex.append(np.where(V[:, i] != 0)[0])
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float32)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=np.float32)
        indNonZero = np.where(V[i, :] != 0)[0]  # noqa: N806
        indImages = [invIndex[ind] for ind in indNonZero]  # noqa: N806
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(
                V[i, indNonZero[j]], V[indImages[j], indNonZero[j]]
            )
        jaccard_dist[i] = 1 - temp_min / (2.0 - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    return final_dist[:query_num, query_num:]


def euclidean(a, b):
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0))


def clustered(rng, n, n_ids=8, dim=6):
    ids = rng.integers(0, n_ids, n)
    centers = np.random.default_rng(99).standard_normal((n_ids, dim)) * 2
    return centers[ids] + rng.standard_normal((n, dim)), ids


@pytest.mark.parametrize("k1,k2,lam", [(20, 6, 0.3), (5, 1, 0.0), (7, 3, 1.0)])
def test_matches_authors_reference(k1, k2, lam):
    rng = np.random.default_rng(0)
    q, _ = clustered(rng, 15)
    g, _ = clustered(rng, 60)
    qg, qq, gg = euclidean(q, g), euclidean(q, q), euclidean(g, g)
    ours = k_reciprocal_rerank(qg, qq, gg, k1=k1, k2=k2, lambda_value=lam)
    ref = reference_re_ranking(qg, qq, gg, k1=k1, k2=k2, lambda_value=lam)
    assert ours.shape == (15, 60)
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_rerank_output_feeds_reid_metrics_and_errors():
    rng = np.random.default_rng(1)
    q, qid = clustered(rng, 10)
    g, gid = clustered(rng, 40)
    d = k_reciprocal_rerank(euclidean(q, g), euclidean(q, q), euclidean(g, g))
    res = reid_metrics_from_distances(d, qid, gid, np.zeros(10), np.ones(40), max_rank=5)
    assert 0.0 <= res["mAP"] <= 1.0
    with pytest.raises(ValueError, match="q_q_dist"):
        k_reciprocal_rerank(euclidean(q, g), euclidean(q, q)[:5], euclidean(g, g))
    with pytest.raises(ValueError, match="q_g_dist"):
        k_reciprocal_rerank(np.full((10, 40), np.nan), euclidean(q, q), euclidean(g, g))
    with pytest.raises(ValueError, match="lambda_value"):
        k_reciprocal_rerank(euclidean(q, g), euclidean(q, q), euclidean(g, g), lambda_value=2)


def test_average_query_expansion_against_loop():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((6, 4))
    g = rng.standard_normal((20, 4))
    out = average_query_expansion(q, g, k=3, distance="euclidean", normalize=False, chunk_size=4)
    for i in range(6):
        nn = np.argsort(np.linalg.norm(g - q[i], axis=1))[:3]
        np.testing.assert_allclose(out[i], (q[i] + g[nn].sum(0)) / 4, rtol=1e-5)
    normed = average_query_expansion(q, g, k=3)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="gallery_embeddings"):
        average_query_expansion(q, g[:, :2])


def test_encode_with_flip_function_and_model():
    import keras

    rng = np.random.default_rng(3)
    images = rng.random((5, 4, 6, 3)).astype("float32")

    def fn(batch):  # column profile: sensitive to a left-right flip
        return np.asarray(batch).mean(axis=(1, 3))

    out = encode_with_flip(fn, images, batch_size=2, normalize=False)
    expected = (fn(images) + fn(images[:, :, ::-1, :])) / 2
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(out, out[:, ::-1], rtol=1e-6)  # symmetric profile
    model = keras.Sequential(
        [keras.Input((4, 6, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    e = encode_with_flip(model, images, batch_size=2)
    direct = model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(e, direct / np.linalg.norm(direct, axis=1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError, match="images"):
        encode_with_flip(fn, images[0])
