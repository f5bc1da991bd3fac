"""Triplet miners: batch-hard, batch-all, semi-hard, easy-positive, distance-weighted sampling.

All work on a ``(B, B)`` matrix in "smaller is closer" order (similarities are negated first)
and return a :class:`~embedding_net.miners.base.MiningResult` of fixed shape; none builds a
``(B, B, B)`` tensor and none loops over the batch in Python.
"""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.miners.base import (
    Miner,
    MiningResult,
    count_less_equal,
    pair_masks,
)

_PACKAGE = "embedding_net"


def _ordered(matrix, is_inverted: bool):
    matrix = ops.convert_to_tensor(matrix)
    return -matrix if is_inverted else matrix


def _one_hot_select(d, mask, hardest_is_max: bool):
    """One-hot ``(B, B)`` of the arg-max (or arg-min) of ``d`` inside ``mask``; zero rows where
    the mask row is empty."""
    n = ops.shape(d)[1]
    if hardest_is_max:
        idx = ops.argmax(ops.where(mask, d, ops.cast(float("-inf"), d.dtype)), axis=1)
    else:
        idx = ops.argmin(ops.where(mask, d, ops.cast(float("inf"), d.dtype)), axis=1)
    valid = ops.cast(ops.any(mask, axis=1, keepdims=True), d.dtype)
    return ops.one_hot(idx, n, dtype=d.dtype) * valid


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchHardMiner(Miner):
    """Batch-hard mining (Hermans et al., 2017): per anchor the farthest positive and the
    closest negative.

    Result: ``positive`` and ``negative`` are one-hot rows ``(B, B)`` (zero rows for anchors
    without a positive / negative); ``negative_index`` is ``None``.
    """

    one_triplet_per_anchor = True

    def triplet_distances(
        self,
        matrix,
        labels,
        *,
        embeddings=None,
        ref_labels=None,
        ref_valid=None,
        is_inverted: bool = False,
    ):
        """``(max_p d_ap, min_n d_an)`` per anchor (``-inf`` / ``+inf`` when empty): the masked
        max / min themselves, ``O(B^2)`` without the one-hot rows of :meth:`mine`."""
        d = _ordered(matrix, is_inverted)
        pos, neg = pair_masks(labels, ref_labels, ref_valid)
        inf = ops.cast(float("inf"), d.dtype)
        return ops.max(ops.where(pos, d, -inf), axis=1), ops.min(ops.where(neg, d, inf), axis=1)

    def triplet_indices(
        self,
        matrix,
        labels,
        *,
        embeddings=None,
        ref_labels=None,
        ref_valid=None,
        is_inverted: bool = False,
    ):
        """``(argmax_p d_ap, argmin_n d_an, has_positive, has_negative)`` per anchor: the masked
        arg-max / arg-min themselves (see :meth:`Miner.triplet_indices`)."""
        d = ops.stop_gradient(_ordered(matrix, is_inverted))
        pos, neg = pair_masks(labels, ref_labels, ref_valid)
        inf = ops.cast(float("inf"), d.dtype)
        return (
            ops.argmax(ops.where(pos, d, -inf), axis=1),
            ops.argmin(ops.where(neg, d, inf), axis=1),
            ops.any(pos, axis=1),
            ops.any(neg, axis=1),
        )

    def select(self, matrix, positive, negative, *, is_inverted=False, embeddings=None):
        d = _ordered(matrix, is_inverted)
        return MiningResult(
            positive=ops.stop_gradient(_one_hot_select(d, positive, hardest_is_max=True)),
            negative=ops.stop_gradient(_one_hot_select(d, negative, hardest_is_max=False)),
        )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchAllMiner(Miner):
    """Batch-all mining: every valid triplet (all positives x all negatives of each anchor).

    Result: ``positive`` / ``negative`` are the float label masks ``(B, B)``.
    """

    def select(self, matrix, positive, negative, *, is_inverted=False, embeddings=None):
        matrix = ops.convert_to_tensor(matrix)
        return MiningResult(
            positive=ops.cast(positive, matrix.dtype), negative=ops.cast(negative, matrix.dtype)
        )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SemiHardMiner(Miner):
    """Semi-hard negative mining (Schroff et al., 2015), one negative per positive pair.

    For each (a, p): the closest negative that is farther than the positive,
    ``argmin {d_an : d_an > d_ap}`` (and ``d_an < d_ap + margin`` when ``margin`` is given).
    Pairs without such a negative use ``fallback``: ``"easiest"`` (the farthest negative, as
    tensorflow-addons' ``triplet_semihard_loss``), ``"hardest"`` (the closest negative) or
    ``None`` (the pair is dropped). Cost ``O(B^2 log B)`` (row sorts), no ``(B, B, B)`` tensor.

    Args:
        margin: optional upper bound ``d_an < d_ap + margin``; ``None`` = no bound (TFA).
        fallback: ``"easiest"``, ``"hardest"`` or ``None``.
        distance: see :class:`Miner`.

    Result: ``positive`` marks the kept (a, p) pairs, ``negative_index[a, p]`` their negative,
    ``negative`` the label negatives of each anchor.
    """

    _FALLBACKS = ("easiest", "hardest", None)

    def __init__(
        self, margin: float | None = None, fallback: str | None = "easiest", distance="L2"
    ):
        super().__init__(distance=distance)
        if fallback not in self._FALLBACKS:
            raise ValueError(
                f"SemiHardMiner: `fallback` must be one of {self._FALLBACKS}, got {fallback!r}"
            )
        if margin is not None and not margin > 0:
            raise ValueError(f"SemiHardMiner: `margin` must be > 0 or None, got {margin!r}")
        self.margin = None if margin is None else float(margin)
        self.fallback = fallback

    def select(self, matrix, positive, negative, *, is_inverted=False, embeddings=None):
        d = ops.stop_gradient(_ordered(matrix, is_inverted))
        n = ops.shape(d)[1]
        counts, order = count_less_equal(d, negative, d)
        num_neg = ops.sum(ops.cast(negative, "int32"), axis=1, keepdims=True)
        found = ops.less(counts, num_neg)
        idx = ops.take_along_axis(order, ops.minimum(counts, n - 1), axis=1)
        if self.margin is not None:
            chosen = ops.take_along_axis(d, idx, axis=1)
            found = ops.logical_and(found, ops.less(chosen, d + self.margin))
        has_neg = ops.any(negative, axis=1, keepdims=True)
        if self.fallback is None:
            keep = ops.logical_and(positive, found)
            negative_index = idx
        else:
            inf = ops.cast(float("inf"), d.dtype)
            if self.fallback == "easiest":
                fb = ops.argmax(ops.where(negative, d, -inf), axis=1)
            else:
                fb = ops.argmin(ops.where(negative, d, inf), axis=1)
            fb = ops.cast(ops.expand_dims(fb, 1), "int32")
            negative_index = ops.where(found, idx, fb)
            keep = ops.logical_and(positive, has_neg)
        return MiningResult(
            positive=ops.cast(keep, d.dtype),
            negative=ops.cast(negative, d.dtype),
            negative_index=ops.cast(negative_index, "int32"),
        )

    def get_config(self) -> dict:
        return {"margin": self.margin, "fallback": self.fallback, **super().get_config()}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EasyPositiveMiner(Miner):
    """Easy-positive mining (Xuan et al., 2020): per anchor the closest positive.

    Args:
        negatives: ``"all"`` (every negative of the anchor) or ``"hardest"`` (the closest one).
        distance: see :class:`Miner`.
    """

    def __init__(self, negatives: str = "all", distance="L2"):
        super().__init__(distance=distance)
        if negatives not in ("all", "hardest"):
            raise ValueError(
                f"EasyPositiveMiner: `negatives` must be 'all' or 'hardest', got {negatives!r}"
            )
        self.negatives = negatives

    @property
    def one_triplet_per_anchor(self) -> bool:
        """One positive per anchor; one negative too with ``negatives="hardest"``."""
        return self.negatives == "hardest"

    def select(self, matrix, positive, negative, *, is_inverted=False, embeddings=None):
        d = ops.stop_gradient(_ordered(matrix, is_inverted))
        positive = _one_hot_select(d, positive, hardest_is_max=False)
        if self.negatives == "all":
            negative = ops.cast(negative, d.dtype)
        else:
            negative = _one_hot_select(d, negative, hardest_is_max=False)
        return MiningResult(positive=positive, negative=negative)

    def get_config(self) -> dict:
        return {"negatives": self.negatives, **super().get_config()}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DistanceWeightedMiner(Miner):
    """Distance-weighted negative sampling (Wu et al., 2017), seeded.

    Negatives of each anchor are sampled with probability proportional to the inverse density
    of distances between points on the unit sphere of dimension ``n``:
    ``w(d) = d^(2-n) * (1 - d^2/4)^((3-n)/2)``, with ``d`` clipped below at ``cutoff`` and
    negatives at ``d >= nonzero_loss_cutoff`` excluded (uniform over all negatives when none
    is left). Meant for l2-normalised embeddings with the L2 distance.

    Args:
        cutoff: lower clip of the distance (0.5 in the paper).
        nonzero_loss_cutoff: negatives farther than this get weight 0 (1.4 in the paper).
        num_negatives: negatives sampled per anchor (with replacement; the ``negative``
            weights count how often each was drawn).
        seed: int seed of the internal ``keras.random.SeedGenerator``; pass ``seed=`` to
            :meth:`mine` for stateless use inside ``jax.jit``.
        distance: see :class:`Miner`.

    Result: ``positive`` = every positive pair, ``negative`` = sample counts ``(B, B)``.
    """

    def __init__(
        self,
        cutoff: float = 0.5,
        nonzero_loss_cutoff: float = 1.4,
        num_negatives: int = 1,
        seed: int | None = None,
        distance="L2",
    ):
        super().__init__(distance=distance)
        if not cutoff > 0:
            raise ValueError(f"DistanceWeightedMiner: `cutoff` must be > 0, got {cutoff!r}")
        if not nonzero_loss_cutoff > cutoff:
            raise ValueError(
                "DistanceWeightedMiner: `nonzero_loss_cutoff` must be > `cutoff`, got "
                f"{nonzero_loss_cutoff!r}"
            )
        if int(num_negatives) < 1:
            raise ValueError(
                f"DistanceWeightedMiner: `num_negatives` must be >= 1, got {num_negatives!r}"
            )
        self.cutoff = float(cutoff)
        self.nonzero_loss_cutoff = float(nonzero_loss_cutoff)
        self.num_negatives = int(num_negatives)
        self.seed = seed
        self._seed_generator = None

    def sampling_log_weights(self, matrix, labels, dim: int, ref_labels=None, ref_valid=None):
        """Unnormalised log-probabilities ``(B, B)`` (or ``(B, R)``) of sampling each negative
        (``-inf`` where excluded)."""
        _, negative = pair_masks(labels, ref_labels, ref_valid)
        return self._log_weights(ops.convert_to_tensor(matrix), negative, dim)

    def _log_weights(self, matrix, negative, dim: int):
        d = ops.stop_gradient(matrix)
        n = float(dim)
        dc = ops.maximum(d, self.cutoff)
        log_w = (2.0 - n) * ops.log(dc) - ((n - 3.0) / 2.0) * ops.log(
            ops.maximum(1.0 - 0.25 * ops.square(dc), 1e-8)
        )
        allowed = ops.logical_and(negative, ops.less(d, self.nonzero_loss_cutoff))
        any_allowed = ops.any(allowed, axis=1, keepdims=True)
        allowed = ops.where(any_allowed, allowed, negative)
        # uniform over negatives when every allowed weight would be excluded
        log_w = ops.where(any_allowed, log_w, ops.zeros_like(log_w))
        neg_inf = ops.cast(float("-inf"), d.dtype)
        log_w = ops.where(allowed, log_w, neg_inf)
        row_max = ops.max(
            ops.where(allowed, log_w, ops.cast(-1e30, d.dtype)), axis=1, keepdims=True
        )
        return log_w - row_max

    def select(
        self, matrix, positive, negative, *, is_inverted=False, embeddings=None, seed=None, dim=None
    ):
        """See :meth:`Miner.select`; the embedding dimension comes from ``embeddings`` (or
        ``dim``), and ``seed`` (a ``SeedGenerator`` or a seed tensor) overrides the miner's own
        generator for stateless use inside ``jax.jit`` (pass both to :meth:`mine`)."""
        if is_inverted:
            raise ValueError(
                "DistanceWeightedMiner: needs a distance (L2 on normalised embeddings), "
                "got a similarity"
            )
        if dim is None and embeddings is not None:
            dim = int(ops.shape(embeddings)[-1])
        if dim is None:
            raise ValueError(
                "DistanceWeightedMiner.mine: pass `embeddings` (or `dim`, the embedding "
                "dimension), or call the miner on embeddings"
            )
        log_w = self._log_weights(matrix, negative, dim)
        has_neg = ops.any(negative, axis=1, keepdims=True)
        # rows without any negative: sample anything, then zero them out
        logits = ops.where(has_neg, log_w, ops.zeros_like(log_w))
        if seed is None:
            if self._seed_generator is None:
                self._seed_generator = keras.random.SeedGenerator(self.seed)
            seed = self._seed_generator
        n = ops.shape(matrix)[1]
        samples = keras.random.categorical(logits, self.num_negatives, seed=seed)
        counts = ops.sum(ops.one_hot(samples, n, dtype=matrix.dtype), axis=1)
        counts = counts * ops.cast(has_neg, matrix.dtype)
        return MiningResult(positive=ops.cast(positive, matrix.dtype), negative=counts)

    def get_config(self) -> dict:
        return {
            "cutoff": self.cutoff,
            "nonzero_loss_cutoff": self.nonzero_loss_cutoff,
            "num_negatives": self.num_negatives,
            "seed": self.seed,
            **super().get_config(),
        }
