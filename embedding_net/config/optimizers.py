"""Deprecated alias of :mod:`embedding_net.optimizers` (``RectifiedAdam``, ``build_optimizer``,
``build_schedule`` moved there); importing it warns. Kept for one release so that code and
scripts importing ``embedding_net.config.optimizers`` (to register ``RectifiedAdam`` before
loading a saved model) keep working."""

import warnings

from embedding_net.optimizers import RectifiedAdam, build_optimizer, build_schedule

__all__ = ["RectifiedAdam", "build_optimizer", "build_schedule"]

warnings.warn(
    "embedding_net.config.optimizers is deprecated: import RectifiedAdam, build_optimizer and "
    "build_schedule from embedding_net.optimizers",
    DeprecationWarning,
    stacklevel=2,
)
