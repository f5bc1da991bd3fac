"""Pair miners: multi-similarity mining."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.miners.base import Miner, MiningResult

_PACKAGE = "embedding_net"


def multi_similarity_pairs(score, positive, negative, epsilon: float):
    """The multi-similarity rule on masks: which positive and negative pairs are informative.

    A positive (a, p) is kept when ``s_ap - epsilon < max_n s_an`` and a negative (a, n) when
    ``s_an + epsilon > min_p s_ap``, the max / min running over ``negative`` / ``positive``.

    Args:
        score: float ``(B, N)``, larger = more similar (negate distances first).
        positive, negative: bool ``(B, N)`` candidate pairs.
        epsilon: the mining margin.

    Returns:
        ``(keep_positive, keep_negative)``: bool ``(B, N)``.
    """
    inf = ops.cast(float("inf"), score.dtype)
    hardest_neg = ops.max(ops.where(negative, score, -inf), axis=1, keepdims=True)
    hardest_pos = ops.min(ops.where(positive, score, inf), axis=1, keepdims=True)
    keep_pos = ops.logical_and(positive, ops.less(score - epsilon, hardest_neg))
    keep_neg = ops.logical_and(negative, ops.greater(score + epsilon, hardest_pos))
    return keep_pos, keep_neg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MultiSimilarityMiner(Miner):
    """Multi-similarity pair mining (Wang et al., 2019).

    With similarities ``s``: a positive pair (a, p) is kept when
    ``s_ap - epsilon < max_n s_an`` and a negative pair (a, n) when
    ``s_an + epsilon > min_p s_ap``. With a distance the same rule is applied to ``-d``
    (keep ``d_ap + epsilon > min_n d_an`` and ``d_an - epsilon < max_p d_ap``).

    Args:
        epsilon: the mining margin (0.1 in the paper).
        distance: see :class:`~embedding_net.miners.base.Miner` (default ``"cosine"``).

    Result: ``positive`` / ``negative`` float 0/1 masks ``(B, B)``.
    """

    def __init__(self, epsilon: float = 0.1, distance="cosine"):
        super().__init__(distance=distance)
        if not epsilon >= 0:
            raise ValueError(f"MultiSimilarityMiner: `epsilon` must be >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def select(self, matrix, positive, negative, *, is_inverted=False, embeddings=None):
        matrix = ops.stop_gradient(ops.convert_to_tensor(matrix))
        s = matrix if is_inverted else -matrix
        keep_pos, keep_neg = multi_similarity_pairs(s, positive, negative, self.epsilon)
        return MiningResult(
            positive=ops.cast(keep_pos, s.dtype), negative=ops.cast(keep_neg, s.dtype)
        )

    def get_config(self) -> dict:
        return {"epsilon": self.epsilon, **super().get_config()}
