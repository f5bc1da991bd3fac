"""Deprecated: the held-out evaluation protocols moved to :mod:`embedding_net.evaluation`.

``embedding_net.config.validation.X`` still resolves for one release, with a
``DeprecationWarning`` naming the new home: :mod:`embedding_net.evaluation.protocols`
(``evaluate_protocol``, ``build_validation_set``, ``MAIN_METRIC``, ``PROTOCOLS``) and
:mod:`embedding_net.evaluation.validation_sets` (``ValidationSet``, ``reid_set``,
``classification_set``, ``verification_set``, ``load_record_images``).
"""

from __future__ import annotations

import importlib
import warnings

_MOVED = {
    "MAIN_METRIC": "protocols",
    "PROTOCOLS": "protocols",
    "build_validation_set": "protocols",
    "evaluate_protocol": "protocols",
    "_reranked": "protocols",
    "ValidationSet": "validation_sets",
    "classification_set": "validation_sets",
    "load_record_images": "validation_sets",
    "reid_set": "validation_sets",
    "verification_set": "validation_sets",
    "_draw_pairs": "validation_sets",
}

__all__ = sorted(name for name in _MOVED if not name.startswith("_"))


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module 'embedding_net.config.validation' has no attribute {name!r}")
    module = f"embedding_net.evaluation.{_MOVED[name]}"
    warnings.warn(
        f"embedding_net.config.validation.{name} is deprecated: import it from {module}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), name)
