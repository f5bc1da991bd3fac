"""Deprecated: the dataset readers moved to :mod:`embedding_net.data.datasets`.

Every name that was importable from here still is, with a ``DeprecationWarning`` naming its
new home (one module per dataset family in :mod:`embedding_net.data.datasets`,
:func:`~embedding_net.data.labels.encode_labels` in :mod:`embedding_net.data.labels`). The
names are also importable from :mod:`embedding_net.data` without a warning.
"""

from __future__ import annotations

import importlib
import warnings

# old name -> module that defines it now
_MOVED = {
    "IMAGE_EXTENSIONS": "datasets.base",
    "ImageRecord": "datasets.base",
    "list_class_folders": "datasets.folders",
    "list_gtsrb": "datasets.gtsrb",
    "TripletRecords": "datasets.triplets_csv",
    "read_triplets_csv": "datasets.triplets_csv",
    "triplet_records_to_images": "datasets.triplets_csv",
    "parse_reid_name": "datasets.reid",
    "list_reid_images": "datasets.reid",
    "LFWPairs": "datasets.lfw",
    "LFWPeople": "datasets.lfw",
    "lfw_image_path": "datasets.lfw",
    "read_lfw_pairs": "datasets.lfw",
    "read_lfw_people": "datasets.lfw",
    "list_lfw_people": "datasets.lfw",
    "encode_labels": "labels",
}

__all__ = sorted(_MOVED)


def __getattr__(name: str):
    if name in _MOVED:
        module = f"embedding_net.data.{_MOVED[name]}"
        warnings.warn(
            f"embedding_net.data.adapters.{name} is deprecated: import it from "
            f"embedding_net.data (or {module})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'embedding_net.data.adapters' has no attribute {name!r}")


def __dir__():
    return __all__
