"""embedding_net: metric learning for Keras 3.

The public API is re-exported here lazily, so that ``import embedding_net`` (and the
``embedding-net --help`` command) does not pay for importing a Keras backend until a
model, loss or layer is actually used. When Keras is already imported, ``import
embedding_net`` registers the library's classes with Keras at once, so that plain
``keras.saving.load_model`` restores our models (:func:`load_model` works in any order).
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "BaseNetwork": "embedding_net.models",
    "ClassifierTrainingModel": "embedding_net.models",
    "SiameseModel": "embedding_net.models",
    "TripletModel": "embedding_net.models",
    "available_backbones": "embedding_net.models",
    "EmbeddingIndex": "embedding_net.evaluation",
    "reid_metrics": "embedding_net.evaluation",
    "verification_metrics": "embedding_net.evaluation",
    "retrieval_metrics": "embedding_net.evaluation",
    "knn_accuracy": "embedding_net.evaluation",
    "load_model": "embedding_net.saving",
}

_SUBPACKAGES = (
    "callbacks",
    "cli",
    "config",
    "data",
    "distances",
    "evaluation",
    "heads",
    "layers",
    "losses",
    "miners",
    "models",
    "visualization",
)

__all__ = sorted(_EXPORTS) + list(_SUBPACKAGES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"embedding_net.{name}")
    raise AttributeError(f"module 'embedding_net' has no attribute {name!r}")


def __dir__():
    return __all__


if "keras" in sys.modules:  # Keras is loaded already: registering costs little now
    importlib.import_module("embedding_net.saving").register_all()
