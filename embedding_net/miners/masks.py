"""Labels and pair masks shared by every miner and loss, and tensorflow-addons' masked
reductions.

Keras' ``Loss.__call__`` casts ``y_true`` to the loss dtype (float32) before a loss runs;
:func:`labels_to_int` casts the ids back, which is exact only below ``2**24 = 16_777_216``:
remap class ids to ``0..N-1`` in the data pipeline.
"""

from __future__ import annotations

from keras import ops


def labels_to_int(labels):
    """Flatten labels to int32 ``(B,)`` (float ids are rounded first; exact below ``2**24``).

    Args:
        labels: int or float tensor ``(B,)`` or ``(B, 1)``.

    Returns:
        Int32 tensor ``(B,)``.
    """
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    if "int" not in str(labels.dtype):
        labels = ops.round(labels)
    return ops.cast(labels, "int32")


def pair_masks(labels, ref_labels=None, ref_valid=None):
    """Positive and negative masks between a batch and candidate rows.

    Args:
        labels: tensor ``(B,)`` (or ``(B, 1)``) of class ids (floats are rounded).
        ref_labels: tensor ``(R,)`` of the candidates' ids; ``None`` means the batch itself,
            in which case the diagonal (an anchor with itself) is not a positive.
        ref_valid: optional bool tensor ``(R,)``; invalid candidates (empty memory slots) are
            neither positive nor negative.

    Returns:
        ``(positive, negative)``: bool tensors ``(B, R)`` (``(B, B)`` without a reference).
    """
    labels = labels_to_int(labels)
    same_batch = ref_labels is None
    candidates = labels if same_batch else labels_to_int(ref_labels)
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(candidates, 0))
    positive, negative = same, ops.logical_not(same)
    if same_batch:
        n = ops.shape(labels)[0]
        positive = ops.logical_and(positive, ops.logical_not(ops.cast(ops.eye(n), "bool")))
    if ref_valid is not None:
        valid = ops.expand_dims(ops.cast(ref_valid, "bool"), 0)
        positive = ops.logical_and(positive, valid)
        negative = ops.logical_and(negative, valid)
    return positive, negative


def label_masks(labels):
    """Positive and negative masks of a batch against itself.

    Args:
        labels: tensor ``(B,)`` (or ``(B, 1)``) of class ids.

    Returns:
        ``(positive, negative)``: boolean ``(B, B)``; ``positive[a, p]`` is same label and
        ``p != a``; ``negative[a, n]`` is different label.
    """
    return pair_masks(labels)


def masked_maximum(data, mask, axis: int = 1):
    """tensorflow-addons' ``_masked_maximum``: ``max_j((d_j - min d) * m_j) + min d``.

    With an empty mask row this returns the row **minimum** of ``data``.

    Args:
        data: float ``(B, N)``.
        mask: ``(B, N)`` 0/1 (bool or float).
        axis: reduction axis.

    Returns:
        Float ``(B, 1)`` (keepdims, as tensorflow-addons).
    """
    mask = ops.cast(mask, data.dtype)
    axis_minimums = ops.min(data, axis=axis, keepdims=True)
    return ops.max((data - axis_minimums) * mask, axis=axis, keepdims=True) + axis_minimums


def masked_minimum(data, mask, axis: int = 1):
    """tensorflow-addons' ``_masked_minimum``: ``min_j((d_j - max d) * m_j) + max d``.

    With an empty mask row this returns the row **maximum** of ``data``.

    Returns:
        Float ``(B, 1)``.
    """
    mask = ops.cast(mask, data.dtype)
    axis_maximums = ops.max(data, axis=axis, keepdims=True)
    return ops.min((data - axis_maximums) * mask, axis=axis, keepdims=True) + axis_maximums
