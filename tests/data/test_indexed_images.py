"""Images read by index (the P x K sampler's readers): files and TFRecord shards."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from embedding_net import data as D
from embedding_net.data.indexed_images import image_files, read_file_images, read_shard_records
from tests.data.synthetic import label_from_pixels, write_image


def test_image_files_drops_unreadable_and_keeps_metadata(reid_folder):
    records = D.list_reid_images(reid_folder, naming="cuhk03")
    broken = reid_folder / "0009_c1_00.png"
    broken.write_bytes(b"not an image")
    items = [*records, D.ImageRecord(str(broken), 9, {"camera": 1})]
    files = image_files(items, None, None, None, validate=True)
    assert len(files.paths) == len(records) and str(broken) not in files.paths.tolist()
    assert files.labels.dtype == np.int32 and files.cameras.tolist()[:3] == [1, 1, 1]
    assert files.tracklets is None and files.native.all()
    unchecked = image_files(items, None, None, None, validate=False)
    assert len(unchecked.paths) == len(items)
    with pytest.raises(ValueError, match="no image given"):
        image_files([], None, None, None, validate=True)
    with pytest.raises(ValueError, match="one entry per path"):
        image_files([records[0].path], [1, 2], None, None, validate=False)
    with pytest.raises(ValueError, match="no readable image"):
        image_files([str(broken)], [0], None, None, validate=True)


def test_files_and_shards_give_the_same_images(tmp_path):
    paths = [write_image(tmp_path / "img" / f"{i}.png", i % 3, green=i) for i in range(6)]
    labels = [i % 3 for i in range(6)]
    order = np.asarray([[4, 0, 2], [5, 1, 3]], np.int64)
    files = image_files([str(p) for p in paths], labels, None, None, validate=True)
    from_files = list(
        read_file_images(tf.data.Dataset.from_tensor_slices(order), files, (24, 16), None)
    )
    assert [int(y) for _, y in from_files] == [labels[i] for i in order.ravel()]
    assert label_from_pixels(np.stack([x.numpy() for x, _ in from_files])).tolist() == [
        labels[i] for i in order.ravel()
    ]
    D.write_tfrecords(
        list(zip(map(str, paths), labels)), tmp_path / "tfr", num_shards=2, progress=False
    )
    index = D.TFRecordIndex(tmp_path / "tfr")
    flip = lambda image: tf.reverse(image, axis=[1])  # noqa: E731
    from_shards = list(
        read_shard_records(tf.data.Dataset.from_tensor_slices(order), index, (24, 16), flip)
    )
    assert [int(y) for _, y in from_shards] == [int(index.labels[i]) for i in order.ravel()]
    assert all(x.shape == (24, 16, 3) and x.dtype == tf.uint8 for x, _ in from_shards)
