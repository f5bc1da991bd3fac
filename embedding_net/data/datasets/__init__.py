"""Datasets: one module per family and one table of layouts (:mod:`.registry`).

Every module lists plain :class:`ImageRecord` items (path, label, metadata), never images:

* :mod:`.folders`: class folders ``root/<class>/*`` or ``root/train|val/<class>/*``;
* :mod:`.gtsrb`: GTSRB class folders with track ids;
* :mod:`.reid`: person re-id file names (Market-1501, DukeMTMC, CUHK03, MARS);
* :mod:`.lfw`: LFW person folders and its pairs / people protocol files;
* :mod:`.triplets_csv`: a CSV of ``Anchor,Positive,Negative`` image paths;
* :mod:`.tfrecord`: a folder of TFRecord shards written by
  :func:`~embedding_net.data.write_tfrecords`.

:data:`LAYOUTS` maps each layout name to its :class:`Layout`; :func:`get_layout` and
:func:`layout_names` are what the config and the CLI use.
"""

from __future__ import annotations

from embedding_net.data.datasets.base import IMAGE_EXTENSIONS, ImageRecord, Listing
from embedding_net.data.datasets.folders import list_class_folders
from embedding_net.data.datasets.gtsrb import list_gtsrb
from embedding_net.data.datasets.lfw import (
    LFWPairs,
    LFWPeople,
    lfw_image_path,
    list_lfw_people,
    read_lfw_pairs,
    read_lfw_people,
)
from embedding_net.data.datasets.registry import (
    LAYOUTS,
    Layout,
    find_layout,
    get_layout,
    layout_names,
    list_layout_records,
)
from embedding_net.data.datasets.reid import list_reid_images, parse_reid_name
from embedding_net.data.datasets.tfrecord import (
    is_shard_record,
    list_tfrecord_records,
    read_shard_images,
)
from embedding_net.data.datasets.triplets_csv import (
    TripletRecords,
    read_triplets_csv,
    triplet_records_to_images,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "ImageRecord",
    "LFWPairs",
    "LFWPeople",
    "Layout",
    "Listing",
    "TripletRecords",
    "find_layout",
    "get_layout",
    "is_shard_record",
    "layout_names",
    "lfw_image_path",
    "list_class_folders",
    "list_gtsrb",
    "list_layout_records",
    "list_lfw_people",
    "list_reid_images",
    "list_tfrecord_records",
    "parse_reid_name",
    "read_lfw_pairs",
    "read_lfw_people",
    "read_shard_images",
    "read_triplets_csv",
    "triplet_records_to_images",
]
