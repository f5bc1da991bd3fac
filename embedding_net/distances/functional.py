"""Pairwise distance and similarity matrices on ``keras.ops``.

``pairwise_distance`` and ``angular_distance`` reproduce tensorflow-addons 0.23
(``tfa.losses.metric_learning``) value for value, including the ``|x|^2 + |y|^2 - 2 x.y``
expansion and the ``1e-16`` trick that gives a finite, zero gradient at zero distance.
"""

from __future__ import annotations

from keras import ops

#: Added under the square root where the squared distance is 0 (tensorflow-addons' value).
#: Lower bound of the squared norm in :func:`l2_normalize` (``tf.math.l2_normalize``'s default).
NORM_EPSILON = 1e-12


def l2_normalize(x, axis: int = -1, epsilon: float = NORM_EPSILON):
    """``x / sqrt(max(sum(x^2), epsilon))`` along ``axis``, as ``tf.math.l2_normalize``.

    Args:
        x: float tensor, e.g. ``(batch, dim)``.
        axis: axis to normalise.
        epsilon: lower bound of the squared norm (zero rows stay zero, gradient finite).

    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    x = ops.convert_to_tensor(x)
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(square_sum, ops.cast(epsilon, x.dtype)))


def _squared_l2_cross(x, y):
    """``max(|x_i|^2 + |y_j|^2 - 2 x_i.y_j, 0)``: ``(n, m)``."""
    x_sq = ops.sum(ops.square(x), axis=1, keepdims=True)
    y_sq = ops.sum(ops.square(y), axis=1, keepdims=True)
    # (-2 x) . y == -2 (x . y) exactly (scaling by a power of two): one (n, m) pass fewer
    d2 = ops.add(x_sq, ops.transpose(y_sq)) + ops.matmul(-2.0 * x, ops.transpose(y))
    return ops.maximum(d2, 0.0)


def safe_sqrt(x, keep=None):
    """``sqrt(x)`` with value 0 and gradient 0 where ``x <= 0`` (tensorflow-addons' trick).

    ``sqrt(x + 1e-16 [x <= 0]) * [x > 0]`` equals ``sqrt(x)`` where ``x > 0`` and 0 elsewhere;
    it is computed with the double-``where`` form (same values, same zero gradient, fewer
    passes).

    Args:
        x: float tensor of any shape.
        keep: optional bool tensor broadcastable to ``x``; entries where it is ``False`` are
            0 too (e.g. the diagonal of a distance matrix).

    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    positive = ops.greater(x, 0.0)
    if keep is not None:
        positive = ops.logical_and(positive, keep)
    safe = ops.where(positive, x, ops.ones_like(x))
    return ops.where(positive, ops.sqrt(safe), ops.zeros_like(x))


def _safe_sqrt(d2, squared: bool, keep=None):
    """:func:`safe_sqrt` of squared distances, or ``d2`` itself (zeroed where not kept)."""
    if not squared:
        return safe_sqrt(d2, keep=keep)
    positive = ops.greater(d2, 0.0)
    if keep is not None:
        positive = ops.logical_and(positive, keep)
    return ops.where(positive, d2, ops.zeros_like(d2))


def pairwise_distance(embeddings, squared: bool = False):
    """Pairwise (squared) Euclidean distances, tensorflow-addons 0.23 exact.

    ``d2_ij = max(|x_i|^2 + |x_j|^2 - 2 x_i.x_j, 0)``; ``squared=False`` returns
    ``sqrt(d2 + 1e-16 [d2 <= 0]) * [d2 > 0]`` so that the value is exactly 0 and the gradient
    finite (0) where ``d2 == 0``. The diagonal is forced to 0. Because of the expansion,
    bitwise-identical rows may get a small non-zero distance (about 1e-3 in float32).

    Args:
        embeddings: float tensor ``(batch, dim)``.
        squared: return squared distances.

    Returns:
        Float tensor ``(batch, batch)``.
    """
    embeddings = ops.convert_to_tensor(embeddings)
    if len(embeddings.shape) != 2:
        raise ValueError(
            f"pairwise_distance: `embeddings` must be 2-D (batch, dim), got shape {embeddings.shape}"
        )
    idx = ops.arange(ops.shape(embeddings)[0])
    off_diagonal = ops.not_equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))
    return _safe_sqrt(_squared_l2_cross(embeddings, embeddings), squared, keep=off_diagonal)


def euclidean_distance_matrix(x, y, squared: bool = False):
    """Cross (squared) Euclidean distances between the rows of ``x`` and ``y``.

    Same formula and zero-distance handling as :func:`pairwise_distance`, without touching the
    diagonal (``x`` and ``y`` are different sets, e.g. embeddings and proxies).

    Args:
        x: float tensor ``(n, dim)``.
        y: float tensor ``(m, dim)``.
        squared: return squared distances.

    Returns:
        Float tensor ``(n, m)``.
    """
    x = ops.convert_to_tensor(x)
    y = ops.convert_to_tensor(y, dtype=x.dtype)
    return _safe_sqrt(_squared_l2_cross(x, y), squared)


def cosine_similarity_matrix(x, y=None):
    """Cosine similarity ``xn yn^T`` of the l2-normalised rows.

    Args:
        x: float tensor ``(n, dim)``.
        y: float tensor ``(m, dim)``; defaults to ``x``.

    Returns:
        Float tensor ``(n, m)`` in ``[-1, 1]`` (up to rounding).
    """
    xn = l2_normalize(ops.convert_to_tensor(x), axis=1)
    yn = xn if y is None else l2_normalize(ops.convert_to_tensor(y, dtype=xn.dtype), axis=1)
    return ops.matmul(xn, ops.transpose(yn))


def cosine_similarity(embeddings):
    """Pairwise cosine similarity matrix ``(batch, batch)`` of ``embeddings (batch, dim)``."""
    return cosine_similarity_matrix(embeddings)


def angular_distance(embeddings):
    """tensorflow-addons' angular distance ``max(1 - xn xn^T, 0)`` (``1 - cos``, not arccos).

    ``xn = x / sqrt(max(sum(x^2), 1e-12))``. The diagonal is **not** zeroed (values of about
    1e-7 occur), exactly as tensorflow-addons 0.23.

    Args:
        embeddings: float tensor ``(batch, dim)``.

    Returns:
        Float tensor ``(batch, batch)`` in ``[0, 2]``.
    """
    return ops.maximum(1.0 - cosine_similarity_matrix(embeddings), 0.0)


def angular_distance_matrix(x, y=None):
    """Cross angular distance ``max(1 - xn yn^T, 0)``: ``(n, m)``."""
    return ops.maximum(1.0 - cosine_similarity_matrix(x, y), 0.0)


def lp_distance_matrix(x, y=None, p: float = 2.0):
    """Brute-force ``(sum |x_i - y_j|^p)^(1/p)`` for any ``p >= 1``.

    Materialises ``(n, m, dim)``: meant for ``p != 2`` on small batches (``p == 2`` goes through
    :func:`euclidean_distance_matrix`).

    Args:
        x: float tensor ``(n, dim)``.
        y: float tensor ``(m, dim)``; defaults to ``x``.
        p: order of the norm; ``float("inf")`` for the maximum norm.

    Returns:
        Float tensor ``(n, m)``.
    """
    x = ops.convert_to_tensor(x)
    y = x if y is None else ops.convert_to_tensor(y, dtype=x.dtype)
    diff = ops.abs(ops.expand_dims(x, 1) - ops.expand_dims(y, 0))
    if p == float("inf"):
        return ops.max(diff, axis=-1)
    s = ops.sum(ops.power(diff, p), axis=-1)
    # same zero trick as the L2 path: finite gradient at zero distance
    zero = ops.less_equal(s, 0.0)
    safe = ops.where(zero, ops.ones_like(s), s)
    return ops.where(zero, ops.zeros_like(s), ops.power(safe, 1.0 / p))
