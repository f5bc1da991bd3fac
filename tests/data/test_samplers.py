"""P x K sampling: exact P ids x K images, replacement for small identities, camera/tracklet
awareness, determinism, and the image batches over files and over TFRecord shards."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from embedding_net import data as A
from embedding_net.data import samplers as S
from embedding_net.data import tfrecords as T
from tests.data.synthetic import label_from_pixels


def _check_pk(batch: np.ndarray, labels: np.ndarray, P: int, K: int):
    y = labels[batch]
    assert batch.shape == (P * K,)
    blocks = y.reshape(P, K)
    assert np.all(blocks == blocks[:, :1]), "each block of K is one identity"
    assert len(set(blocks[:, 0].tolist())) == P, "P distinct identities"


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def test_every_batch_is_p_by_k_and_covers_identities():
    rng = np.random.default_rng(0)
    labels = _labels(rng.integers(1, 12, size=23))
    rng.shuffle(labels)
    P, K = 5, 4
    batches = list(itertools.islice(S.PKSampler(P, K, seed=0).indices(labels), 200))
    for b in batches:
        _check_pk(b, labels, P, K)
    seen = np.bincount(labels[np.concatenate(batches)][::K], minlength=23)
    # identities are visited in shuffled rounds: each one equally often (+-1 round)
    assert seen.max() - seen.min() <= 1


def test_without_replacement_when_enough_images():
    labels = _labels([8, 8, 8])
    for b in itertools.islice(S.PKSampler(3, 4, seed=1).indices(labels), 20):
        assert len(set(b.tolist())) == 12
    # two consecutive visits of an identity with 8 images use all 8 (a queue, not redraws)
    it = S.PKSampler(3, 4, seed=1).indices(labels)
    b1, b2 = next(it), next(it)
    for c in range(3):
        both = [i for i in np.concatenate([b1, b2]) if labels[i] == c]
        assert sorted(both) == list(np.flatnonzero(labels == c))


def test_small_identities_sampled_with_replacement():
    labels = _labels([1, 2, 6])
    for b in itertools.islice(S.PKSampler(3, 4, seed=2).indices(labels), 10):
        _check_pk(b, labels, 3, 4)
        block0 = b[labels[b] == 0]
        assert block0.tolist() == [0, 0, 0, 0]
        block1 = b[labels[b] == 1]
        assert set(block1.tolist()) == {1, 2}  # both images present, then repeats


def test_camera_aware_uses_two_cameras():
    labels = _labels([6, 6, 6, 1])
    cameras = np.array([1, 1, 1, 1, 1, 2] * 3 + [3])
    plain_single = 0
    for b in itertools.islice(
        S.PKSampler(3, 2, camera_aware=True, seed=3).indices(labels, cameras=cameras), 50
    ):
        for block in b.reshape(3, 2):
            if labels[block[0]] != 3:
                assert len(set(cameras[block].tolist())) == 2
    for b in itertools.islice(S.PKSampler(3, 2, seed=3).indices(labels), 50):
        plain_single += sum(len(set(cameras[block].tolist())) == 1 for block in b.reshape(3, 2))
    assert plain_single > 0  # without the option, single-camera pairs do occur


def test_tracklet_aware_spreads_over_tracklets():
    labels = _labels([9, 9])
    tracklets = np.array([1, 1, 1, 2, 2, 2, 3, 3, 3] * 2)
    cameras = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2] * 2)
    sampler = S.PKSampler(2, 3, tracklet_aware=True, seed=0)
    for b in itertools.islice(sampler.indices(labels, tracklets=tracklets), 20):
        for block in b.reshape(2, 3):
            assert len(set(tracklets[block].tolist())) == 3
    both = S.PKSampler(2, 2, camera_aware=True, tracklet_aware=True, seed=0)
    for b in itertools.islice(both.indices(labels, cameras, tracklets), 20):
        for block in b.reshape(2, 2):
            assert len(set(cameras[block].tolist())) == 2


def test_determinism_and_seed_changes_batches():
    labels = _labels([5] * 10)
    a = list(itertools.islice(S.PKSampler(4, 2, seed=7).indices(labels), 10))
    b = list(itertools.islice(S.PKSampler(4, 2, seed=7).indices(labels), 10))
    c = list(itertools.islice(S.PKSampler(4, 2, seed=8).indices(labels), 10))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_sampler_errors():
    with pytest.raises(ValueError, match="P="):
        next(S.PKSampler(3, 2).indices([0, 0, 1]))
    with pytest.raises(ValueError, match="P must"):
        S.PKSampler(0, 2)
    with pytest.raises(ValueError, match="K must"):
        S.PKSampler(2, 0)
    with pytest.raises(ValueError, match="cameras"):
        next(S.PKSampler(1, 2, camera_aware=True).indices([0, 1]))
    with pytest.raises(ValueError, match="tracklets"):
        next(S.PKSampler(1, 2, tracklet_aware=True).indices([0, 1], tracklets=[1]))
    with pytest.raises(ValueError, match="non-empty"):
        next(S.PKSampler(1, 2).indices([]))
    one_class = list(itertools.islice(S.PKSampler(1, 3, seed=0).indices([4, 4]), 3))
    assert all(sorted(set(b.tolist())) == [0, 1] for b in one_class)


def test_singles_add_one_image_identities_as_negatives():
    rng = np.random.default_rng(4)
    counts = np.concatenate([rng.integers(2, 7, size=9), np.ones(13, dtype=int)])
    labels = _labels(counts)
    rng.shuffle(labels)
    multi = set(np.flatnonzero(counts >= 2).tolist())
    P, K, singles = 4, 2, 5
    sampler = S.PKSampler(P, K, seed=0, singles=singles)
    assert sampler.batch_size == P * K + singles
    batches = list(itertools.islice(sampler.indices(labels), 130))
    for b in batches:
        assert b.shape == (P * K + singles,)
        _check_pk(b[: P * K], labels, P, K)
        assert set(labels[b[: P * K]].tolist()) <= multi, "the P identities have 2+ images"
        tail = labels[b[P * K :]]
        # distinct one-image identities, none of them in the P x K part: no positive pair
        assert len(set(tail.tolist())) == singles and not set(tail.tolist()) & multi
    # the one-image identities are drawn in shuffled rounds: each equally often (+-1 round)
    seen = np.bincount(np.concatenate([labels[b[P * K :]] for b in batches]), minlength=22)
    single_seen = seen[counts == 1]
    assert single_seen.min() >= 1 and single_seen.max() - single_seen.min() <= 1
    # singles=0 keeps one-image identities among the P (their K slots repeat the image)
    plain = np.concatenate(list(itertools.islice(S.PKSampler(P, K, seed=0).indices(labels), 50)))
    assert set(labels[plain].tolist()) & set(np.flatnonzero(counts == 1).tolist())
    a = list(itertools.islice(S.PKSampler(P, K, seed=3, singles=2).indices(labels), 5))
    b = list(itertools.islice(S.PKSampler(P, K, seed=3, singles=2).indices(labels), 5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_singles_errors():
    labels = _labels([3, 3, 1, 1])
    with pytest.raises(ValueError, match=r"singles=3 one-image identities per batch, but the "):
        next(S.PKSampler(2, 2, singles=3).indices(labels))
    with pytest.raises(
        ValueError, match=r"P=3 identities per batch, .* only 2 identities with two"
    ):
        next(S.PKSampler(3, 2, singles=1).indices(labels))
    for bad in (-1, 1.5, "2"):
        with pytest.raises(ValueError, match="singles must be an integer >= 0"):
            S.PKSampler(2, 2, singles=bad)
    assert next(S.PKSampler(2, 2, singles=2, seed=0).indices(labels)).shape == (6,)


def _check_image_batches(ds, P, K, n_batches, names=None):
    batches = list(ds)
    assert len(batches) == n_batches
    for x, y in batches:
        x, y = x.numpy(), y.numpy()
        assert x.shape == (P * K, 24, 16, 3) and x.dtype == np.uint8 and y.dtype == np.int32
        _check_pk(np.arange(P * K), y, P, K)
        expected = y if names is None else np.asarray([names[i] for i in y])
        np.testing.assert_array_equal(label_from_pixels(x), expected)
    return batches


def test_pk_batches_from_records_and_paths(reid_folder, tmp_path, caplog):
    recs = A.list_reid_images(reid_folder, "cuhk03")
    (tmp_path / "bad").mkdir()
    broken = tmp_path / "bad" / "0003_c1_09.png"
    broken.write_bytes(b"\x89PNG broken")
    recs.append(A.ImageRecord(str(broken), 3, {"camera": 1}))
    with caplog.at_level(logging.WARNING):
        ds = S.pk_batches(recs, 4, 3, (24, 16), camera_aware=True, seed=0)
    assert "0003_c1_09.png" in caplog.text
    batches = _check_image_batches(ds, 4, 3, 36 // 12)
    ds2 = S.pk_batches(
        [r.path for r in recs], 4, 3, (24, 16), labels=[r.label for r in recs], seed=0
    )
    _check_image_batches(ds2, 4, 3, 3)
    again = _check_image_batches(
        S.pk_batches(recs, 4, 3, (24, 16), camera_aware=True, seed=0), 4, 3, 3
    )
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(batches, again))
    # static shape for the whole dataset
    assert ds.element_spec[0].shape.as_list() == [12, 24, 16, 3]


def test_pk_batches_from_tfrecord_shards(reid_folder, tmp_path):
    recs = A.list_reid_images(reid_folder, "cuhk03")
    T.write_tfrecords(recs, tmp_path / "o", num_shards=3, val_fraction=0.25, progress=False)
    ds = S.pk_batches(
        tmp_path / "o", 3, 4, (24, 16), camera_aware=True, seed=1, batches_per_epoch=5
    )
    names = [int(n) for n in T.read_manifest(tmp_path / "o")["label_names"]]
    batches = _check_image_batches(ds, 3, 4, 5, names)
    index = T.TFRecordIndex(tmp_path / "o", "train")
    train_ids = set(index.labels.tolist())
    assert all(set(y.numpy().tolist()) <= train_ids for _, y in batches)
    val = S.pk_batches(tmp_path / "o", 2, 2, (24, 16), split="val", seed=1, batches_per_epoch=2)
    _check_image_batches(val, 2, 2, 2, names)
    # a second epoch continues the seeded stream (new batches, same generator)
    epoch2 = [y.numpy() for _, y in ds]
    assert len(epoch2) == 5
    with pytest.raises(ValueError, match="batches_per_epoch"):
        S.pk_batches(tmp_path / "o", 2, 2, (24, 16), batches_per_epoch=0)
