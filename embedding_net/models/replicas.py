"""Loss scaling under ``tf.distribute``: Keras divides per-sample losses by the replica count
(each replica's share of the summed gradient) but leaves scalar-valued losses alone."""

from __future__ import annotations

import keras


def returns_scalar(loss, y, y_pred) -> bool:
    """Whether a loss returns one scalar instead of per-sample values (traced only for its
    static shape; the unused value is pruned from the graph)."""
    if loss is None or isinstance(loss, (dict, list, tuple, str)):
        return False
    fn = loss.call if isinstance(loss, keras.losses.Loss) else loss
    return len(fn(y, y_pred).shape) == 0
