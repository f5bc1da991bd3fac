"""reid_metrics against a slow per-query port of torchreid's eval_market1501."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.evaluation import reid_metrics, reid_metrics_from_distances
from embedding_net.evaluation.reid import single_shot_keys


def reference_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Per-query loop as torchreid's eval_market1501; junk (-1) removed; ties: non-match first."""
    all_cmc, all_ap, all_inp = [], [], []
    for i in range(distmat.shape[0]):
        keep = ~((g_pids == q_pids[i]) & (g_camids == q_camids[i])) & (g_pids != -1)
        d = distmat[i][keep]
        matches = g_pids[keep] == q_pids[i]
        order = np.lexsort((matches, d))  # by distance, non-matches first among ties
        raw_cmc = matches[order].astype(np.int64)
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        last = np.max(np.where(raw_cmc == 1))
        all_inp.append(cmc[last] / (last + 1.0))
        cmc[cmc > 1] = 1
        full = np.ones(max_rank)
        full[: min(max_rank, len(cmc))] = cmc[:max_rank]
        all_cmc.append(full)
        tmp = raw_cmc.cumsum() / (np.arange(len(raw_cmc)) + 1.0)
        all_ap.append(np.sum(tmp * raw_cmc) / raw_cmc.sum())
    return np.mean(all_cmc, axis=0), np.mean(all_ap), np.mean(all_inp), len(all_ap)


def reference_single_shot(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, repeats, seed):
    """Per-query, per-repeat loop with the same sampling keys as the library."""
    cmcs, aps = [], []
    for i in range(distmat.shape[0]):
        keep = ~((g_pids == q_pids[i]) & (g_camids == q_camids[i])) & (g_pids != -1)
        if not np.any(keep & (g_pids == q_pids[i])):
            continue
        keys = single_shot_keys(seed, i, repeats, g_pids)
        cmc_q, ap_q = np.zeros(max_rank), 0.0
        for rep in range(repeats):
            chosen = []
            for pid in np.unique(g_pids[keep]):
                members = np.flatnonzero(keep & (g_pids == pid))
                chosen.append(members[np.argmin(keys[rep, members])])
            chosen = np.array(chosen)
            matches = g_pids[chosen] == q_pids[i]
            order = np.lexsort((matches, distmat[i, chosen]))
            rank = int(np.flatnonzero(matches[order])[0]) + 1
            cmc_q += np.arange(1, max_rank + 1) >= rank
            ap_q += 1.0 / rank
        cmcs.append(cmc_q / repeats)
        aps.append(ap_q / repeats)
    return np.mean(cmcs, axis=0), np.mean(aps), len(aps)


def random_split(rng, n_q=60, n_g=300, dim=8, n_ids=20, n_cams=3, junk=True):
    q = rng.standard_normal((n_q, dim))
    g = rng.standard_normal((n_g, dim))
    qid = rng.integers(0, n_ids, n_q)
    gid = rng.integers(-1 if junk else 0, n_ids, n_g)
    qcam = rng.integers(0, n_cams, n_q)
    gcam = rng.integers(0, n_cams, n_g)
    return q, g, qid, gid, qcam, gcam


def euclidean(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_matches_reference_loop_on_random_data(distance):
    rng = np.random.default_rng(0)
    q, g, qid, gid, qcam, gcam = random_split(rng)
    if distance == "euclidean":
        dist = euclidean(q, g)
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        dist = 1.0 - qn @ gn.T
    ref_cmc, ref_ap, ref_inp, ref_n = reference_market1501(dist, qid, gid, qcam, gcam, 20)
    res = reid_metrics(q, g, qid, gid, qcam, gcam, distance=distance, max_rank=20, chunk_size=7)
    np.testing.assert_allclose(res["cmc"], ref_cmc, atol=1e-12)
    assert res["mAP"] == pytest.approx(ref_ap, abs=1e-12)
    assert res["mINP"] == pytest.approx(ref_inp, abs=1e-12)
    assert res["num_valid_queries"] == ref_n
    assert res["cmc"].shape == (20,)


def test_from_distances_matches_reference_and_is_chunk_invariant():
    rng = np.random.default_rng(1)
    _, _, qid, gid, qcam, gcam = random_split(rng, n_q=80, n_g=200)
    dist = rng.random((80, 200)).round(2)  # many exact ties
    ref_cmc, ref_ap, ref_inp, ref_n = reference_market1501(dist, qid, gid, qcam, gcam, 10)
    for chunk in (1, 13, 1000):
        res = reid_metrics_from_distances(dist, qid, gid, qcam, gcam, max_rank=10, chunk_size=chunk)
        np.testing.assert_allclose(res["cmc"], ref_cmc, atol=1e-12)
        assert res["mAP"] == pytest.approx(ref_ap, abs=1e-12)
        assert res["mINP"] == pytest.approx(ref_inp, abs=1e-12)
        assert res["num_valid_queries"] == ref_n


def test_hand_computed_case():
    # gallery: same id & same cam (removed), non-match .1, match .2, junk .05, non-match .3,
    # match .4 -> valid ranking N M N M: AP = (1/2 + 2/4) / 2, INP = 2/4, first match rank 2
    dist = np.array([[0.0, 0.1, 0.2, 0.05, 0.3, 0.4]])
    gid = np.array([7, 3, 7, -1, 4, 7])
    gcam = np.array([1, 2, 2, 2, 2, 2])
    res = reid_metrics_from_distances(dist, [7], gid, [1], gcam, max_rank=5)
    np.testing.assert_allclose(res["cmc"], [0, 1, 1, 1, 1])
    assert res["mAP"] == pytest.approx(0.5)
    assert res["mINP"] == pytest.approx(0.5)
    assert res["num_valid_queries"] == 1


def test_ties_are_pessimistic():
    dist = np.zeros((1, 3))
    res = reid_metrics_from_distances(dist, [1], [1, 2, 3], [0], [1, 1, 1], max_rank=3)
    np.testing.assert_allclose(res["cmc"], [0, 0, 1])
    assert res["mAP"] == pytest.approx(1 / 3)


def test_identical_embeddings_equal_reference():
    rng = np.random.default_rng(2)
    _, _, qid, gid, qcam, gcam = random_split(rng, n_q=10, n_g=40, junk=False)
    q, g = np.ones((10, 4)), np.ones((40, 4))
    res = reid_metrics(q, g, qid, gid, qcam, gcam, max_rank=10)
    ref_cmc, ref_ap, ref_inp, _ = reference_market1501(np.zeros((10, 40)), qid, gid, qcam, gcam, 10)
    np.testing.assert_allclose(res["cmc"], ref_cmc)
    assert res["mAP"] == pytest.approx(ref_ap)
    assert res["mINP"] == pytest.approx(ref_inp)


def test_perfect_ranking_gives_ones():
    rng = np.random.default_rng(3)
    ids = np.repeat(np.arange(10), 4)
    emb = np.eye(10)[ids] * 10 + rng.normal(scale=0.01, size=(40, 10))
    cams = np.tile([0, 1, 2, 3], 10)
    res = reid_metrics(emb[::4], emb, ids[::4], ids, cams[::4], cams, max_rank=5)
    np.testing.assert_allclose(res["cmc"], np.ones(5))
    assert res["mAP"] == pytest.approx(1.0)
    assert res["mINP"] == pytest.approx(1.0)
    assert res["num_valid_queries"] == 10


def test_queries_without_valid_match_are_skipped_and_all_skipped_raises():
    dist = np.array([[0.1, 0.2], [0.3, 0.4]])
    # query 0 (id 1, cam 0): its only same-id image is on cam 0 -> skipped
    res = reid_metrics_from_distances(dist, [1, 2], [1, 2], [0, 0], [0, 1], max_rank=2)
    assert res["num_valid_queries"] == 1
    np.testing.assert_allclose(res["cmc"], [0, 1])  # non-match at .3 before match at .4
    with pytest.raises(ValueError, match="no query has a valid match"):
        reid_metrics_from_distances(dist, [1, 2], [1, 2], [0, 1], [0, 1])


def test_single_shot_matches_reference_loop_and_is_seeded():
    rng = np.random.default_rng(4)
    q, g, qid, gid, qcam, gcam = random_split(rng, n_q=25, n_g=120, n_ids=8)
    dist = euclidean(q, g)
    ref_cmc, ref_ap, ref_n = reference_single_shot(dist, qid, gid, qcam, gcam, 10, 5, seed=3)
    res = reid_metrics(
        q, g, qid, gid, qcam, gcam, max_rank=10, single_shot=True, repeats=5, seed=3, chunk_size=4
    )
    np.testing.assert_allclose(res["cmc"], ref_cmc, atol=1e-12)
    assert res["mAP"] == pytest.approx(ref_ap, abs=1e-12)
    assert res["mINP"] == pytest.approx(ref_ap, abs=1e-12)
    assert res["num_valid_queries"] == ref_n
    other = reid_metrics(q, g, qid, gid, qcam, gcam, single_shot=True, repeats=5, seed=4)
    assert other["mAP"] != res["mAP"]


def test_single_shot_equals_multi_shot_with_one_image_per_id():
    rng = np.random.default_rng(5)
    g = rng.standard_normal((12, 6))
    q = rng.standard_normal((12, 6))
    ids = np.arange(12)
    a = reid_metrics(q, g, ids, ids, np.zeros(12), np.ones(12), max_rank=12)
    b = reid_metrics(q, g, ids, ids, np.zeros(12), np.ones(12), max_rank=12, single_shot=True)
    np.testing.assert_allclose(a["cmc"], b["cmc"])
    assert a["mAP"] == pytest.approx(b["mAP"])


def test_single_shot_sampling_probability():
    # match at .5; id 9 has two images at .2 and .8: rank-1 iff the .8 one is drawn (p = 1/2)
    dist = np.array([[0.5, 0.2, 0.8]])
    res = reid_metrics_from_distances(
        dist, [1], [1, 9, 9], [0], [1, 1, 1], max_rank=2, single_shot=True, repeats=4000
    )
    assert res["cmc"][0] == pytest.approx(0.5, abs=0.04)
    assert res["cmc"][1] == pytest.approx(1.0)


def test_accepts_tensors():
    import keras

    rng = np.random.default_rng(6)
    q, g, qid, gid, qcam, gcam = random_split(rng, n_q=10, n_g=30, junk=False)
    a = reid_metrics(q, g, qid, gid, qcam, gcam)
    b = reid_metrics(
        keras.ops.convert_to_tensor(q.astype("float32")),
        keras.ops.convert_to_tensor(g.astype("float32")),
        keras.ops.convert_to_tensor(qid),
        gid,
        qcam,
        gcam,
    )
    assert b["mAP"] == pytest.approx(a["mAP"], abs=1e-5)


def test_input_errors_name_the_argument():
    rng = np.random.default_rng(7)
    q, g, qid, gid, qcam, gcam = random_split(rng, n_q=5, n_g=10)
    bad = q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="query_embeddings"):
        reid_metrics(bad, g, qid, gid, qcam, gcam)
    with pytest.raises(ValueError, match="gallery_embeddings"):
        reid_metrics(q, g[:, :3], qid, gid, qcam, gcam)
    with pytest.raises(ValueError, match="gallery_embeddings"):
        reid_metrics(q, g[:0], qid, gid[:0], qcam, gcam[:0])
    with pytest.raises(ValueError, match="query_ids"):
        reid_metrics(q, g, qid[:3], gid, qcam, gcam)
    with pytest.raises(ValueError, match="gallery_cams"):
        reid_metrics(q, g, qid, gid, qcam, gcam[:-1])
    with pytest.raises(ValueError, match="query_embeddings"):
        reid_metrics(q[0], g, qid, gid, qcam, gcam)
    with pytest.raises(ValueError, match="distance"):
        reid_metrics(q, g, qid, gid, qcam, gcam, distance="manhattan")
    with pytest.raises(ValueError, match="max_rank"):
        reid_metrics(q, g, qid, gid, qcam, gcam, max_rank=0)
    with pytest.raises(ValueError, match="distmat"):
        reid_metrics_from_distances(np.full((5, 10), np.nan), qid, gid, qcam, gcam)


def test_one_identity():
    rng = np.random.default_rng(8)
    q, g = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    res = reid_metrics(q, g, np.zeros(3), np.zeros(5), np.zeros(3), np.ones(5), max_rank=3)
    np.testing.assert_allclose(res["cmc"], np.ones(3))
    assert res["mAP"] == 1.0 and res["mINP"] == 1.0


@pytest.mark.parametrize("fraction", [0.0, 2.0])
def test_both_ranking_paths_match_reference(fraction, monkeypatch):
    from embedding_net.evaluation import _ranking

    monkeypatch.setattr(_ranking, "FULL_SORT_FRACTION", fraction)
    rng = np.random.default_rng(9)
    _, _, qid, gid, qcam, gcam = random_split(rng, n_q=40, n_g=150)
    dist = rng.random((40, 150)).round(2)
    dist[qid[:, None] == gid[None, :]] *= 0.3  # fairly well ranked, with ties
    ref_cmc, ref_ap, ref_inp, _ = reference_market1501(dist, qid, gid, qcam, gcam, 10)
    res = reid_metrics_from_distances(dist, qid, gid, qcam, gcam, max_rank=10, chunk_size=16)
    np.testing.assert_allclose(res["cmc"], ref_cmc, atol=1e-12)
    assert res["mAP"] == pytest.approx(ref_ap, abs=1e-12)
    assert res["mINP"] == pytest.approx(ref_inp, abs=1e-12)
