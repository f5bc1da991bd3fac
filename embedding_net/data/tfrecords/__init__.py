"""Sharded TFRecords: writer (parallel encoding, identity split, manifest) and readers.

Layout written by :func:`write_tfrecords` into ``output_dir``::

    manifest.json                 label map, counts, shards, skipped files, options
    train-00000-of-00004.tfrecord ...
    val-00000-of-00001.tfrecord   (when val_fraction > 0 or the records carry a "val" split)
    train-index.npz, val-index.npz   per-record label, camera, tracklet, shard, byte offset, length

Each record is a ``tf.train.Example`` with ``image/encoded`` (JPEG/PNG bytes, 8-bit, decodable by
TensorFlow), ``image/format``, ``label`` (int64, remapped), ``camera`` and ``tracklet`` (int64, -1
when unknown), ``path`` (original path) and ``label/name`` (original identity).

The label map puts the training identities first: training labels are ``0..N_train-1``
(contiguous, ready for a classification head) and validation-only identities follow.

The index files give each record's byte position in its shard, so samplers read any record
directly (:class:`TFRecordIndex`), streaming from the shards without loading the dataset.

Crash safety: every file is written under a temporary name and renamed into place, the
manifest last (with each file's record count, size and SHA-256); readers refuse a folder
whose manifest is missing or disagrees with its files (:class:`TFRecordSetError`), see
:mod:`.manifest`.

Modules: :mod:`.writer` (:func:`write_tfrecords`), :mod:`.reader` (:func:`read_tfrecords`,
:class:`TFRecordIndex`, :func:`parse_example`) and :mod:`.manifest` (:func:`read_manifest`).
"""

from __future__ import annotations

from embedding_net.data.tfrecords.manifest import (
    MANIFEST,
    TFRecordSetError,
    existing_outputs,
    read_manifest,
    verify_split,
)
from embedding_net.data.tfrecords.reader import TFRecordIndex, parse_example, read_tfrecords
from embedding_net.data.tfrecords.writer import SPLIT_BY, write_tfrecords
from embedding_net.data.tfrecords.writer import _split_records as _split_records

# the name this module had before ``existing_outputs`` was public
_existing_outputs = existing_outputs

__all__ = [
    "MANIFEST",
    "SPLIT_BY",
    "TFRecordIndex",
    "TFRecordSetError",
    "existing_outputs",
    "parse_example",
    "read_manifest",
    "read_tfrecords",
    "verify_split",
    "write_tfrecords",
]
