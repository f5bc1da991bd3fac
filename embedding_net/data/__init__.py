"""tf.data input pipelines: dataset adapters, TFRecords, P x K samplers, pairs, triplets, augmentation.

TensorFlow is imported only when a pipeline name is used (``data_root`` and the adapters stay
light); every dataset built here feeds ``model.fit`` on the TensorFlow, JAX and torch backends.
"""

from __future__ import annotations

import importlib

from embedding_net.data.locations import data_root, sample_dir

# public name -> module that defines it (imported lazily)
_EXPORTS = {
    "ImageRecord": "adapters",
    "TripletRecords": "adapters",
    "LFWPairs": "adapters",
    "LFWPeople": "adapters",
    "encode_labels": "adapters",
    "list_class_folders": "adapters",
    "list_gtsrb": "adapters",
    "list_lfw_people": "adapters",
    "list_reid_images": "adapters",
    "parse_reid_name": "adapters",
    "read_lfw_pairs": "adapters",
    "read_lfw_people": "adapters",
    "read_triplets_csv": "adapters",
    "triplet_records_to_images": "adapters",
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
    "read_manifest": "tfrecords",
    "read_tfrecords": "tfrecords",
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
