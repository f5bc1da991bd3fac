"""Pairs and triplets: exact balance, correct targets from the pixels, CSV triplets, and fit with
the library's SiameseModel / TripletModel."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.data import pairs as Pm
from tests.data.synthetic import label_from_pixels, write_image


@pytest.fixture
def labelled(tmp_path):
    paths, labels = [], []
    for c in range(5):
        for i in range(1 if c == 4 else 3):
            paths.append(str(write_image(tmp_path / f"c{c}" / f"{i}.png", c, green=i)))
            labels.append(c)
    return paths, labels


def test_balanced_pair_indices_exact_fraction():
    labels = np.repeat(np.arange(6), [1, 2, 3, 4, 5, 6])
    rng = np.random.default_rng(0)
    for frac, b in [(0.5, 16), (0.25, 8), (1.0, 4), (0.0, 4)]:
        i1, i2, y = Pm.balanced_pair_indices(labels, b, frac, rng)
        assert y.sum() == round(frac * b)
        np.testing.assert_array_equal(labels[i1] == labels[i2], y.astype(bool))
        assert np.all(i1[y == 1] != i2[y == 1])  # a positive pair is two different images
    with pytest.raises(ValueError, match="at least 2 images"):
        Pm.balanced_pair_indices(np.arange(4), 4, 0.5, rng)
    with pytest.raises(ValueError, match="2 identities"):
        Pm.balanced_pair_indices(np.zeros(4, int), 4, 0.5, rng)


def test_pair_dataset_targets_match_pixels(labelled):
    paths, labels = labelled
    ds = Pm.pair_dataset(paths, labels, (24, 16), batch_size=6, seed=3, batches_per_epoch=4)
    n = 0
    for (x1, x2), y in ds:
        assert x1.shape == x2.shape == (6, 24, 16, 3) and x1.dtype.name == "uint8"
        same = label_from_pixels(x1.numpy()) == label_from_pixels(x2.numpy())
        np.testing.assert_array_equal(same, y.numpy().astype(bool))
        assert y.numpy().sum() == 3
        n += 1
    assert n == 4
    first = [
        y.numpy()
        for _, y in Pm.pair_dataset(paths, labels, (24, 16), 6, seed=3, batches_per_epoch=4)
    ]
    second = [
        y.numpy()
        for _, y in Pm.pair_dataset(paths, labels, (24, 16), 6, seed=3, batches_per_epoch=4)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    with pytest.raises(ValueError, match="positive_fraction"):
        Pm.pair_dataset(paths, labels, (24, 16), positive_fraction=1.5)


def test_fixed_pairs_drop_unreadable(labelled, tmp_path):
    paths, _ = labelled
    bad = tmp_path / "bad.png"
    bad.write_text("x")
    ds = Pm.fixed_pair_dataset(
        [paths[0], paths[0], str(bad)],
        [paths[1], paths[4], paths[2]],
        [True, False, True],
        (24, 16),
        8,
    )
    (x1, x2), y = next(iter(ds))
    assert y.numpy().tolist() == [1.0, 0.0]
    assert label_from_pixels(x2.numpy()).tolist() == [0, 1]


def test_random_triplets_valid(labelled):
    paths, labels = labelled
    ds = Pm.triplet_dataset(
        paths, labels, image_size=(24, 16), batch_size=5, seed=1, batches_per_epoch=3
    )
    count = 0
    for (x,) in ds:
        a, p, n = (label_from_pixels(t.numpy()) for t in x)
        assert np.all(a == p) and np.all(a != n)
        assert not np.any(np.all(x[0].numpy() == x[1].numpy(), axis=(1, 2, 3)))  # different images
        count += 1
    assert count == 3
    with pytest.raises(ValueError, match="labels is required"):
        Pm.triplet_dataset(paths, image_size=(4, 4))
    with pytest.raises(ValueError, match="2 identities"):
        Pm.triplet_dataset(paths[:3], [0, 0, 0], image_size=(4, 4))


def test_triplets_from_csv_in_order(labelled, tmp_path):
    paths, _ = labelled
    csv_path = tmp_path / "t.csv"
    rows = [
        (paths[0], paths[1], paths[3]),
        (paths[3], paths[5], paths[12]),
        (paths[0], "gone.png", paths[3]),
    ]
    csv_path.write_text(
        "Anchor,Positive,Negative\n" + "".join(f"{a},{p},{n}\n" for a, p, n in rows)
    )
    ds = Pm.triplet_dataset(csv_path, image_size=(24, 16), batch_size=8, shuffle=False)
    ((a, p, n),) = next(iter(ds))
    assert [label_from_pixels(t.numpy()).tolist() for t in (a, p, n)] == [[0, 1], [0, 1], [1, 4]]


def test_fit_siamese_and_triplet_models(labelled, tmp_path):
    keras = pytest.importorskip("keras")
    models = pytest.importorskip("embedding_net.models")
    paths, labels = labelled
    net = models.BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(24, 16, 3))
    siamese = models.SiameseModel(net)
    siamese.compile(optimizer=keras.optimizers.Adam(1e-3))
    hist = siamese.fit(
        Pm.pair_dataset(paths, labels, (24, 16), 4, seed=0, batches_per_epoch=2),
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(hist.history["loss"][-1])
    triplet = models.TripletModel(net)
    triplet.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = Pm.triplet_dataset(
        paths, labels, image_size=(24, 16), batch_size=4, seed=0, batches_per_epoch=2
    )
    hist = triplet.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
