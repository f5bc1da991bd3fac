"""Train/validation splits and the evaluation protocols, against brute-force references."""

import numpy as np
import pytest

from embedding_net.config import DataConfig
from embedding_net.config.records import split_records
from embedding_net.data import ImageRecord
from embedding_net.evaluation.protocols import evaluate_protocol
from embedding_net.evaluation.validation_sets import ValidationSet, _draw_pairs, reid_set


def _records(n_ids=10, per_id=6, tracks=3, cams=2):
    return [
        ImageRecord(f"/x/{pid}_{i}.png", pid, {"camera": i % cams + 1, "tracklet": i % tracks})
        for pid in range(n_ids)
        for i in range(per_id)
    ]


def test_identity_split_holds_out_whole_identities():
    records = _records()
    split = split_records(
        records, None, DataConfig(root="/x", split="identity", val_fraction=0.3), 0
    )
    train_ids = {r.label for r in split.train}
    val_ids = {r.label for r in split.val}
    assert not train_ids & val_ids and len(val_ids) == 3
    assert len(split.train) + len(split.val) == len(records)
    assert split.label_map == {pid: i for i, pid in enumerate(sorted(train_ids))}
    again = split_records(
        records, None, DataConfig(root="/x", split="identity", val_fraction=0.3), 0
    )
    assert {r.label for r in again.val} == val_ids  # seeded


def test_tracklet_split_shares_classes_not_tracks():
    split = split_records(
        _records(), None, DataConfig(root="/x", split="tracklet", val_fraction=0.34), 1
    )
    train_tracks = {(r.label, r.metadata["tracklet"]) for r in split.train}
    val_tracks = {(r.label, r.metadata["tracklet"]) for r in split.val}
    assert not train_tracks & val_tracks
    assert {r.label for r in split.val} == {r.label for r in split.train}  # every class in both
    assert all(sum(1 for t in val_tracks if t[0] == pid) == 1 for pid in range(10))


def test_given_split_and_subsets():
    records = [
        ImageRecord(f"/x/{s}/{c}/{i}.png", c, {"split": s})
        for s, n in (("train", 5), ("val", 2))
        for c in "abcd"
        for i in range(n)
    ]
    data = DataConfig(root="/x", split="given", max_identities=3, max_images_per_identity=4)
    split = split_records(records, None, data, 0)
    assert len({r.label for r in split.train}) == 3
    assert all(r.metadata["split"] == "train" for r in split.train)
    assert all(r.metadata["split"] == "val" for r in split.val)
    counts = {}
    for r in split.train + split.val:
        counts[r.label] = counts.get(r.label, 0) + 1
    assert max(counts.values()) <= 4


def test_min_images_per_identity_filters_training_identities_only(caplog):
    # identity i has i + 1 images: 0..9 -> 1..10 images
    records = [
        ImageRecord(f"/x/{pid}_{i}.png", pid, {}) for pid in range(10) for i in range(pid + 1)
    ]
    plain = split_records(records, None, DataConfig(root="/x", val_fraction=0.3), 0)
    with caplog.at_level("INFO", logger="embedding_net.config.records"):
        split = split_records(
            records, None, DataConfig(root="/x", val_fraction=0.3, min_images_per_identity=4), 0
        )
    counts = {}
    for r in plain.train:
        counts[r.label] = counts.get(r.label, 0) + 1
    kept = {label for label, c in counts.items() if c >= 4}
    assert {r.label for r in split.train} == kept and kept != set(counts)
    assert [r.path for r in split.train] == [r.path for r in plain.train if r.label in kept]
    assert [r.path for r in split.val] == [r.path for r in plain.val]  # held out: unfiltered
    assert split.label_map == {pid: i for i, pid in enumerate(sorted(kept))}
    dropped = len(counts) - len(kept)
    images = len(plain.train) - len(split.train)
    assert f"{dropped} training identities with fewer than 4 images left out of training " in (
        caplog.text
    )
    assert f"({images} images)" in caplog.text
    with pytest.raises(ValueError, match=r"min_images_per_identity: .* has 11 or more .*10\)"):
        split_records(
            records, None, DataConfig(root="/x", split="none", min_images_per_identity=11), 0
        )


@pytest.mark.parametrize(
    "data, message",
    [
        (DataConfig(root="/x", split="given"), "train/ and val/"),
        (DataConfig(root="/x", split="identity", max_identities=2), "at least 3 identities"),
    ],
)
def test_split_errors(data, message):
    with pytest.raises(ValueError, match=message):
        split_records(_records(), None, data, 0)
    with pytest.raises(ValueError, match="track ids"):
        split_records(
            [ImageRecord("/a.png", 1, {}), ImageRecord("/b.png", 2, {})],
            None,
            DataConfig(root="/x", split="tracklet"),
            0,
        )


def test_reid_set_one_query_per_identity_and_camera(tmp_path):
    from PIL import Image

    records = []
    for pid in range(3):
        for i in range(4):
            path = tmp_path / f"{pid:04d}_c{i % 2 + 1}_{i:02d}.png"
            Image.new("RGB", (8, 8), (pid * 60, i * 40, 0)).save(path)
            records.append(ImageRecord(str(path), pid, {"camera": i % 2 + 1}))
    vs = reid_set(records, (8, 8), seed=0)
    keys = [(vs.labels[q], vs.cameras[q]) for q in vs.query]
    assert sorted(keys) == [(p, c) for p in range(3) for c in (1, 2)]
    assert set(vs.query.tolist()) | set(vs.gallery.tolist()) == set(range(12))
    assert not set(vs.query.tolist()) & set(vs.gallery.tolist())


def test_drawn_pairs_are_valid_and_distinct():
    records = [ImageRecord(f"/{p}/{i}", p, {}) for p in range(6) for i in range(p % 3 + 1)]
    pairs, is_same = _draw_pairs(records, 20, np.random.default_rng(0))
    labels = np.asarray([r.label for r in records])
    # only 8 distinct matched pairs exist (persons of 1, 2, 3, 1, 2, 3 images): all are drawn
    assert is_same.sum() == 8 and (~is_same).sum() == 10
    assert np.all((labels[pairs[:, 0]] == labels[pairs[:, 1]]) == is_same)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert is_same[:16:2].all() and not is_same[1:16:2].any()  # alternating: balanced folds
    assert len({tuple(sorted(p)) for p in pairs.tolist()}) == len(pairs)
    with pytest.raises(ValueError, match="at least 2 images|>= 2 images"):
        _draw_pairs(
            [ImageRecord("/a", 1, {}), ImageRecord("/b", 2, {})], 4, np.random.default_rng(0)
        )


def _embed_by_table(table):
    """A 'network' returning fixed embeddings: image i holds its row index in pixel [0, 0, 0]."""

    def fn(images):
        return table[np.asarray(images)[:, 0, 0, 0].astype(int)]

    return fn


def _indexed_images(n):
    images = np.zeros((n, 2, 2, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return images


def test_classification_protocol_matches_brute_force():
    rng = np.random.default_rng(0)
    n_q, n_g = 15, 25
    table = rng.normal(size=(n_q + n_g, 4)).astype(np.float32)
    labels = rng.integers(0, 3, n_q + n_g)
    vs = ValidationSet(
        "classification",
        _indexed_images(n_q + n_g),
        labels,
        query=np.arange(n_q),
        gallery=np.arange(n_q, n_q + n_g),
    )
    got = evaluate_protocol(_embed_by_table(table), vs)
    d = np.linalg.norm(table[:n_q, None] - table[None, n_q:], axis=-1)
    expected = np.mean(labels[n_q:][d.argmin(axis=1)] == labels[:n_q])
    assert got["knn_top1"] == pytest.approx(expected)


def test_verification_and_reid_protocols_on_perfect_embeddings():
    # embeddings = one-hot of the identity: every matched pair has similarity 1, others 0
    labels = np.repeat(np.arange(5), 4)
    table = np.eye(5, dtype=np.float32)[labels]
    images = _indexed_images(len(labels))
    pairs, is_same = _draw_pairs(
        [ImageRecord(str(i), int(x), {}) for i, x in enumerate(labels)],
        40,
        np.random.default_rng(1),
    )
    vs = ValidationSet("verification", images, labels, pairs=pairs, is_same=is_same)
    res = evaluate_protocol(_embed_by_table(table), vs)
    assert res["pair_accuracy"] == 1.0 and res["auc"] == 1.0 and 0.0 < res["threshold"] < 1.0
    cams = np.tile([1, 2, 1, 2], 5)
    query = np.arange(0, 20, 4)
    gallery = np.setdiff1d(np.arange(20), query)
    vs = ValidationSet("reid", images, labels, cameras=cams, query=query, gallery=gallery)
    res = evaluate_protocol(_embed_by_table(table), vs)
    assert res["rank1"] == 1.0 and res["mAP"] == pytest.approx(1.0)
    # shuffled identities -> rank-1 equals the brute-force nearest-neighbour check
    perm = np.random.default_rng(2).permutation(20)
    res = evaluate_protocol(_embed_by_table(table[perm]), vs)
    d = np.linalg.norm(table[perm][query, None] - table[perm][None, gallery], axis=-1)
    valid = ~(
        (labels[gallery][None] == labels[query][:, None])
        & (cams[gallery][None] == cams[query][:, None])
    )
    d = np.where(valid, d, np.inf)
    hits = []
    for row in range(len(query)):
        order = np.lexsort((labels[gallery] == labels[query][row], d[row]))
        hits.append(labels[gallery][order[0]] == labels[query][row])
    assert res["rank1"] == pytest.approx(np.mean(hits))


def test_empty_validation_set_is_an_error():
    vs = ValidationSet("classification", np.zeros((0, 2, 2, 3), np.uint8), np.zeros(0))
    with pytest.raises(ValueError, match="no readable held-out image"):
        evaluate_protocol(lambda x: x, vs)


def _brute_force_reid(d, q_ids, g_ids, q_cams, g_cams):
    """Rank-1 and mAP by sorting each query's row (same identity + same camera removed)."""
    hits, aps = [], []
    for row in range(len(q_ids)):
        keep = ~((g_ids == q_ids[row]) & (g_cams == q_cams[row]))
        order = np.argsort(d[row][keep], kind="stable")
        match = (g_ids[keep] == q_ids[row])[order]
        hits.append(match[0])
        ranks = np.flatnonzero(match) + 1
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    return np.mean(hits), np.mean(aps)


def test_reid_protocol_with_reranking_matches_brute_force():
    from scipy.spatial.distance import cdist

    from embedding_net.evaluation import k_reciprocal_rerank

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(12), 6)
    centres = rng.normal(size=(12, 8))
    table = (centres[labels] + 0.9 * rng.normal(size=(72, 8))).astype(np.float32)
    cams = np.tile([1, 2, 1, 2, 1, 2], 12)
    query = np.arange(0, 72, 6)
    gallery = np.setdiff1d(np.arange(72), query)
    vs = ValidationSet(
        "reid", _indexed_images(72), labels, cameras=cams, query=query, gallery=gallery
    )
    plain = evaluate_protocol(_embed_by_table(table), vs)
    got = evaluate_protocol(_embed_by_table(table), vs, rerank=True)
    q, g = table[query].astype(np.float64), table[gallery].astype(np.float64)
    d = k_reciprocal_rerank(cdist(q, g), cdist(q, q), cdist(g, g))
    rank1, m_ap = _brute_force_reid(d, labels[query], labels[gallery], cams[query], cams[gallery])
    assert got["rank1"] == pytest.approx(rank1) and got["mAP"] == pytest.approx(m_ap, abs=1e-6)
    assert got["mAP"] != pytest.approx(plain["mAP"])  # re-ranking changed the ranking
    rank1, m_ap = _brute_force_reid(
        cdist(q, g), labels[query], labels[gallery], cams[query], cams[gallery]
    )
    assert plain["rank1"] == pytest.approx(rank1) and plain["mAP"] == pytest.approx(m_ap)


def test_reranking_is_refused_outside_reid():
    vs = ValidationSet(
        "classification", _indexed_images(4), np.arange(4), query=np.arange(2), gallery=[2, 3]
    )
    with pytest.raises(ValueError, match="re-ranking applies to the reid protocol"):
        evaluate_protocol(lambda x: x, vs, rerank=True)


def test_split_seed_fixes_the_held_out_identities_across_training_seeds():
    from embedding_net.config import parse_config
    from embedding_net.config.records import split_seed

    records = _records(n_ids=40)

    def held_out(**config):
        config = parse_config(
            {"data": {"root": "/x", "val_fraction": 0.25, **config.pop("data", {})}, **config}
        )
        split = split_records(records, None, config.data, split_seed(config))
        return split_seed(config), {r.label for r in split.val}

    seed0, seed1 = held_out(seed=0), held_out(seed=1)
    assert seed0[0] == 0 and seed1[0] == 1 and seed0[1] != seed1[1]  # default: follows seed
    fixed0 = held_out(seed=0, data={"split_seed": 7})
    fixed1 = held_out(seed=1, data={"split_seed": 7})
    assert fixed0 == fixed1 and fixed0[0] == 7 and len(fixed0[1]) == 10
    assert fixed0[1] == held_out(seed=7)[1]  # the same split as training with seed 7


@pytest.mark.parametrize("split", ["identity", "tracklet", "given", "none"])
def test_final_mode_trains_on_every_image_whatever_the_split(split):
    records = [
        ImageRecord(f"/x/{pid}_{i}.png", pid, {**r.metadata, "split": "train" if i < 4 else "val"})
        for r in _records()
        for pid, i in [(r.label, int(r.path.rsplit("_", 1)[1].split(".")[0]))]
    ]
    split_ = split_records(records, None, DataConfig(root="/x", split=split, val_fraction=0), 0)
    assert split_.val == [] and len(split_.train) == len(records)
    assert split_.label_map == {pid: pid for pid in range(10)}


def test_final_mode_has_no_validation_set():
    from embedding_net.config import TrainConfig
    from embedding_net.evaluation.protocols import build_validation_set

    config = TrainConfig(data=DataConfig(root="/x", val_fraction=0))
    config.validation.protocol = "reid"
    split = split_records(_records(), None, config.data, 0)
    assert build_validation_set(config, split, 0) is None
