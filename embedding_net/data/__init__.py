"""tf.data input pipelines: datasets, TFRecords, P x K samplers, pairs, triplets, augmentation.

:mod:`embedding_net.data.datasets` holds one module per dataset family and the table of
layouts (:func:`get_layout`). TensorFlow is imported only when a pipeline name is used
(``data_root`` and the dataset readers stay light); every dataset built here feeds
``model.fit`` on the TensorFlow, JAX and torch backends.
"""

from __future__ import annotations

import importlib

from embedding_net.data.locations import data_root, sample_dir

# public name -> module that defines it (imported lazily)
_EXPORTS = {
    "IMAGE_EXTENSIONS": "datasets",
    "ImageRecord": "datasets",
    "LAYOUTS": "datasets",
    "Layout": "datasets",
    "Listing": "datasets",
    "TripletRecords": "datasets",
    "LFWPairs": "datasets",
    "LFWPeople": "datasets",
    "encode_labels": "labels",
    "read_class_names": "labels",
    "ParseError": "text_files",
    "find_layout": "datasets",
    "get_layout": "datasets",
    "is_shard_record": "datasets",
    "layout_names": "datasets",
    "lfw_image_path": "datasets",
    "list_class_folders": "datasets",
    "list_gtsrb": "datasets",
    "list_layout_records": "datasets",
    "list_lfw_people": "datasets",
    "list_reid_images": "datasets",
    "list_tfrecord_records": "datasets",
    "parse_reid_name": "datasets",
    "read_lfw_pairs": "datasets",
    "read_lfw_people": "datasets",
    "read_shard_images": "datasets",
    "read_triplets_csv": "datasets",
    "triplet_records_to_images": "datasets",
    "ImageCheck": "images",
    "LoadedImages": "images",
    "check_images": "images",
    "decode_resize": "images",
    "image_dataset": "images",
    "load_images": "images",
    "AugmentationPipeline": "augment",
    "AlbumentationsAdapter": "augment",
    "augmentation_pipeline": "augment",
    "TFRecordIndex": "tfrecords",
    "TFRecordSetError": "tfrecords",
    "read_manifest": "tfrecords",
    "read_tfrecords": "tfrecords",
    "verify_split": "tfrecords",
    "write_tfrecords": "tfrecords",
    "PKSampler": "samplers",
    "pk_batches": "samplers",
    "fixed_pair_dataset": "pairs",
    "pair_dataset": "pairs",
    "triplet_dataset": "pairs",
}

__all__ = ["data_root", "sample_dir", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"embedding_net.data.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'embedding_net.data' has no attribute {name!r}")


def __dir__():
    return __all__
