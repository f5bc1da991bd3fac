"""Shared pieces of the modern loss family: label casting, pair masks, masked log-sum-exp
and the similarity matrix used by the pair-based losses.

Everything is written with ``keras.ops`` only and computes in float32: float16/bfloat16
inputs are cast up first, so mixed-precision models get float32 loss values.
"""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.distances import deserialize_distance, get_distance, serialize_distance


def int_labels(labels):
    """Labels as an int32 vector ``(batch,)``.

    Keras' ``Loss.__call__`` casts ``y_true`` to the loss dtype (float32) before the loss
    function runs; casting back is exact for integer ids below 2**24.
    """
    return ops.reshape(ops.cast(labels, "int32"), (-1,))


def float32(x):
    """``x`` as a float32 tensor (float16/bfloat16 inputs are computed in float32)."""
    return ops.cast(ops.convert_to_tensor(x), "float32")


def l2_normalize(x, axis: int = -1, epsilon: float = 1e-12):
    """``x / sqrt(max(sum(x**2), epsilon))`` along ``axis``: finite at the zero vector."""
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), epsilon))


def pair_masks(labels, ref_labels=None, ref_valid=None):
    """Positive and negative masks between a batch and reference rows.

    Args:
        labels: int tensor ``(batch,)``.
        ref_labels: int tensor ``(ref,)``; ``None`` means ``labels`` (the batch itself),
            in which case the diagonal (an anchor with itself) is not a positive.
        ref_valid: optional bool tensor ``(ref,)``; invalid rows (empty memory slots) are
            neither positive nor negative.

    Returns:
        ``(positive, negative)``: bool tensors ``(batch, ref)``.
    """
    same_batch = ref_labels is None
    ref_labels = labels if same_batch else ref_labels
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(ref_labels, 0))
    positive, negative = same, ops.logical_not(same)
    if same_batch:
        n = ops.shape(labels)[0]
        positive = ops.logical_and(positive, ops.logical_not(ops.cast(ops.eye(n), "bool")))
    if ref_valid is not None:
        valid = ops.expand_dims(ops.cast(ref_valid, "bool"), 0)
        positive = ops.logical_and(positive, valid)
        negative = ops.logical_and(negative, valid)
    return positive, negative


def masked_logsumexp(x, mask, axis: int = -1, add_one: bool = False):
    """``log(sum_{mask} exp(x))`` (``log(1 + sum ...)`` with ``add_one``), safe for empty rows.

    Rows whose mask is empty give 0 (with or without ``add_one``) and a zero, finite
    gradient: masked-out entries never reach ``exp``, so no ``0 * inf`` appears.

    Returns:
        ``(value, nonempty)``: float tensor reduced over ``axis`` and the bool tensor saying
        which rows had at least one entry.
    """
    mask = ops.cast(mask, "bool")
    nonempty = ops.any(mask, axis=axis)
    neg_inf = ops.cast(float("-inf"), x.dtype)
    masked = ops.where(mask, x, neg_inf)
    row_max = ops.max(masked, axis=axis, keepdims=True)
    row_max = ops.where(ops.isfinite(row_max), row_max, ops.zeros_like(row_max))
    if add_one:
        row_max = ops.maximum(row_max, 0.0)
    row_max = ops.stop_gradient(row_max)
    total = ops.sum(ops.exp(ops.where(mask, x - row_max, neg_inf)), axis=axis)
    shift = ops.squeeze(row_max, axis=axis)
    if add_one:
        total = total + ops.exp(-shift)
    safe_total = ops.where(nonempty, total, ops.ones_like(total))
    value = ops.log(safe_total) + shift
    return ops.where(nonempty, value, ops.zeros_like(value)), nonempty


def safe_sqrt(x):
    """``sqrt(x)`` with value 0 and gradient 0 where ``x <= 0`` (the tensorflow-addons trick)."""
    positive = ops.greater(x, 0.0)
    return ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)


def check_distance(distance, argument: str = "distance"):
    """Validate a ``distance=`` argument early; returns it unchanged (names stay names).

    Accepted: ``"dot"`` (un-normalised dot product, a similarity), every name of
    :func:`embedding_net.distances.get_distance` (``"L2"``, ``"squared-L2"``, ``"angular"``,
    ``"cosine"``, ...), a ``Distance`` object, a callable or a serialised ``Distance``.
    """
    if distance == "dot" or callable(distance):
        return distance
    try:
        get_distance(distance)
    except ValueError as error:
        raise ValueError(f"`{argument}`: {error} (or 'dot')") from None
    return deserialize_distance(distance)


def pairwise_matrix(distance, x, y=None):
    """Similarity or distance matrix between ``x (n, D)`` and ``y (m, D)`` (or ``x`` itself).

    Args:
        distance: ``"dot"`` or anything :func:`embedding_net.distances.get_distance` accepts.
        x: float tensor ``(n, D)``.
        y: float tensor ``(m, D)``, or ``None`` for the batch against itself (L2 diagonal 0).

    Returns:
        ``(matrix float32 (n, m), is_similarity)``.
    """
    if isinstance(distance, str) and distance == "dot":
        y = x if y is None else y
        return float32(ops.matmul(x, ops.transpose(y))), True
    dist = get_distance(distance)
    matrix = dist(x) if y is None else dist(x, y)
    return float32(matrix), bool(dist.is_inverted)


def mine_pairs(miner, matrix, is_similarity, labels, positive, negative, has_reference):
    """Restrict the ``positive``/``negative`` masks to the pairs a miner keeps.

    Args:
        miner: ``None``, a miner name or an ``embedding_net.miners.Miner``.
        matrix, is_similarity: the batch's ``(B, B)`` matrix and its kind.
        labels: int ``(B,)``; positive, negative: bool ``(B, B)``.
        has_reference: whether a reference set (memory) is used: miners work on the batch only.

    Returns:
        ``(positive, negative)`` bool masks.
    """
    if miner is None:
        return positive, negative
    if has_reference:
        raise ValueError(
            "`miner` mines a batch against itself; it cannot be used with a reference set"
        )
    from embedding_net.miners import get_miner

    mined = get_miner(miner).mine(matrix, labels, is_inverted=is_similarity)
    positive = ops.logical_and(positive, ops.greater(mined.positive, 0))
    negative = ops.logical_and(negative, ops.greater(mined.negative, 0))
    return positive, negative


def prepare_pair_inputs(labels, embeddings, ref_labels=None, ref_embeddings=None):
    """Cast the standard ``(labels, embeddings[, ref_labels, ref_embeddings])`` inputs.

    Returns:
        ``(labels int32 (batch,), x float32 (batch, D), ref_labels int32 (ref,) or None,
        y float32 (ref, D) or None)``; both ``None`` when the reference is the batch.
    """
    labels = int_labels(labels)
    x = float32(embeddings)
    if (ref_labels is None) != (ref_embeddings is None):
        raise ValueError("`ref_labels` and `ref_embeddings` must be given together")
    if ref_embeddings is None:
        return labels, x, None, None
    return labels, x, int_labels(ref_labels), float32(ref_embeddings)


class FunctionLoss(keras.losses.Loss):
    """A loss class that wraps a loss function ``fn(labels, embeddings, **kwargs)``.

    Subclasses set ``fn`` (a staticmethod) and pass their constructor arguments as keyword
    arguments; ``get_config`` returns exactly those plus ``name``, ``reduction``, ``dtype``.
    """

    fn = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, **fn_kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if "distance" in fn_kwargs:
            fn_kwargs["distance"] = check_distance(fn_kwargs["distance"])
        if isinstance(fn_kwargs.get("miner"), dict):
            fn_kwargs["miner"] = keras.saving.deserialize_keras_object(fn_kwargs["miner"])
        if fn_kwargs.get("miner") is not None:
            from embedding_net.miners import get_miner

            get_miner(fn_kwargs["miner"])  # validates names early
        self._fn_kwargs = fn_kwargs
        self._dtype_arg = dtype

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = (
            self._dtype_arg
            if self._dtype_arg is None or isinstance(self._dtype_arg, str)
            else keras.saving.serialize_keras_object(self._dtype_arg)
        )
        for key, value in self._fn_kwargs.items():
            if key == "distance":
                value = serialize_distance(value)
            elif key == "miner" and value is not None and not isinstance(value, str):
                value = keras.saving.serialize_keras_object(value)
            config[key] = value
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "distance" in config:
            config["distance"] = deserialize_distance(config["distance"])
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)
