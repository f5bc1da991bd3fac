"""TFRecord writer/reader: round trip, identity split, manifest, index offsets, overwrite, bad input."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from embedding_net import data as A
from embedding_net.data import tfrecords as T
from tests.data.synthetic import label_from_pixels, write_image


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_round_trip_pixels_labels_manifest(tmp_path, reid_folder):
    recs = A.list_reid_images(reid_folder, "cuhk03")
    out = tmp_path / "tfr"
    m = T.write_tfrecords(recs, out, num_shards=3, progress=False)
    assert m["num_images"] == len(recs) == 36 and m["splits"]["train"]["num_identities"] == 8
    assert json.loads((out / "manifest.json").read_text())["label_map"] == {
        str(i): i for i in range(8)
    }
    assert len(list(out.glob("train-*.tfrecord"))) == 3
    images, labels = _all(T.read_tfrecords(out, (24, 16), batch_size=5, shuffle=False))
    assert images.dtype == np.uint8 and labels.dtype == np.int32 and len(labels) == 36
    np.testing.assert_array_equal(label_from_pixels(images), labels)
    # exact pixels: every decoded image equals one of the source PNGs of its identity
    sources = {}
    for r in recs:
        sources.setdefault(r.label, []).append(np.asarray(Image.open(r.path).convert("RGB")))
    for img, lab in zip(images, labels):
        assert any(np.array_equal(img, s) for s in sources[int(lab)])
    counts = np.bincount(labels)
    assert counts.tolist() == [
        m["splits"]["train"]["images_per_identity"][str(i)] for i in range(8)
    ]


def test_identity_split_never_leaks(tmp_path, reid_folder):
    recs = A.list_reid_images(reid_folder, "cuhk03")
    m = T.write_tfrecords(
        recs, tmp_path / "o", num_shards=2, val_fraction=0.25, seed=5, progress=False
    )
    train = T.TFRecordIndex(tmp_path / "o", "train")
    val = T.TFRecordIndex(tmp_path / "o", "val")
    assert len(train) + len(val) == 36 and set(train.labels) & set(val.labels) == set()
    assert m["splits"]["val"]["num_identities"] == 2
    # training labels come first and are contiguous 0..N_train-1
    assert sorted(set(train.labels.tolist())) == list(range(6))
    # names in the label map match the pixels (identity k of the folder is label_names[...])
    _, y = _all(T.read_tfrecords(tmp_path / "o", (24, 16), split="val", shuffle=False))
    names = [int(n) for n in m["label_names"]]
    x, _ = _all(T.read_tfrecords(tmp_path / "o", (24, 16), split="val", shuffle=False))
    np.testing.assert_array_equal(label_from_pixels(x), [names[i] for i in y])


def test_tracklet_and_given_splits(tmp_path, class_folders):
    recs = [A.ImageRecord(f"{i}", 0, {"tracklet": i % 4}) for i in range(8)]
    split = T._split_records(recs, 0.25, "tracklet", np.random.default_rng(0))
    tr = {r.metadata["tracklet"] for r in split["train"]}
    va = {r.metadata["tracklet"] for r in split["val"]}
    assert not tr & va and len(va) == 1
    m = T.write_tfrecords(
        A.list_class_folders(class_folders), tmp_path / "g", split_by="given", progress=False
    )
    assert m["splits"]["train"]["num_images"] == 16 and m["splits"]["val"]["num_images"] == 4
    assert m["label_names"][:4] == ["class0", "class1", "class2", "class3"]


def test_index_offsets_match_sequential_reading(tmp_path, reid_folder):
    T.write_tfrecords(
        A.list_reid_images(reid_folder, "cuhk03"), tmp_path / "o", num_shards=2, progress=False
    )
    index = T.TFRecordIndex(tmp_path / "o")
    sequential = []
    for shard in index.shards:
        sequential.extend(r.numpy() for r in tf.data.TFRecordDataset(shard))
    order = np.lexsort((index.offset, index.shard))
    fetched = index.fetch(tf.constant(order, tf.int64)).numpy().tolist()
    assert fetched == sequential
    for i in range(len(index)):
        assert (
            T.parse_example(tf.constant(fetched[list(order).index(i)]))["label"].numpy()
            == index.labels[i]
        )


def test_overwrite_refused_then_allowed(tmp_path, reid_folder):
    recs = A.list_reid_images(reid_folder, "cuhk03")
    T.write_tfrecords(recs, tmp_path / "o", num_shards=3, progress=False)
    with pytest.raises(FileExistsError, match=str(tmp_path / "o")):
        T.write_tfrecords(recs, tmp_path / "o", progress=False)
    T.write_tfrecords(recs, tmp_path / "o", num_shards=1, overwrite=True, progress=False)
    assert len(list((tmp_path / "o").glob("*.tfrecord"))) == 1  # old shards removed


def test_bad_files_skipped_counted_and_converted(tmp_path, caplog):
    good = [write_image(tmp_path / "a" / f"{i}.png", 1) for i in range(2)]
    deep = tmp_path / "a" / "deep.png"
    Image.fromarray(np.full((24, 16), 15 * 257, np.uint16)).save(deep)
    broken = tmp_path / "a" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    recs = [(p, "a") for p in good] + [(deep, "a"), (broken, "a"), (tmp_path / "gone.png", "a")]
    with caplog.at_level(logging.WARNING):
        m = T.write_tfrecords(recs, tmp_path / "o", num_shards=1, progress=False)
    assert m["num_images"] == 3 and set(m["skipped"]) == {str(broken), str(tmp_path / "gone.png")}
    assert "2 of 5 image(s) skipped" in caplog.text and "broken.jpg" in caplog.text
    x, _ = _all(T.read_tfrecords(tmp_path / "o", (24, 16), shuffle=False))
    assert sorted(label_from_pixels(x).tolist()) == [1, 1, 1]  # 16-bit grey 15 -> red 15


def test_resize_at_write_and_argument_errors(tmp_path, reid_folder):
    recs = A.list_reid_images(reid_folder, "cuhk03")
    m = T.write_tfrecords(recs, tmp_path / "o", num_shards=1, image_size=(12, 8), progress=False)
    assert m["image_size"] == [12, 8]
    x, y = _all(T.read_tfrecords(tmp_path / "o", (12, 8), shuffle=False))
    np.testing.assert_array_equal(label_from_pixels(x), y)
    with pytest.raises(ValueError, match="split_by"):
        T.write_tfrecords(recs, tmp_path / "p", split_by="camera")
    with pytest.raises(ValueError, match="val_fraction"):
        T.write_tfrecords(recs, tmp_path / "p", val_fraction=1.0)
    with pytest.raises(ValueError, match="records"):
        T.write_tfrecords([("a",)], tmp_path / "p")
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        T.TFRecordIndex(tmp_path / "nothing")
    with pytest.raises(ValueError, match="split='val'"):
        T.TFRecordIndex(tmp_path / "o", "val")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_text("no")
    with pytest.raises(ValueError, match="none of the 1"):
        T.write_tfrecords([(tmp_path / "broken" / "x.png", 0)], tmp_path / "q", progress=False)


def test_read_tfrecords_glob_and_metadata(tmp_path, reid_folder):
    T.write_tfrecords(
        A.list_reid_images(reid_folder, "cuhk03"), tmp_path / "o", num_shards=2, progress=False
    )
    ds = T.read_tfrecords(
        str(tmp_path / "o" / "train-*.tfrecord"),
        (24, 16),
        batch_size=64,
        with_metadata=True,
        seed=1,
    )
    x, meta = next(iter(ds))
    assert x.shape[0] == 36 and set(meta["camera"].numpy().tolist()) == {1, 2}
    np.testing.assert_array_equal(label_from_pixels(x.numpy()), meta["label"].numpy())
    with pytest.raises(FileNotFoundError):
        T.read_tfrecords(str(tmp_path / "none-*.tfrecord"), (4, 4))
