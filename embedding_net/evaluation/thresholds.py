"""Match thresholds: the cut between "same" and "different" pair scores.

Convention (``compare``, ``serve``, ``evaluate``, saved metrics): a threshold is in the units of
the score of its distance, and a pair is the same when the score is on the near side, i.e.
``score <= t`` for a distance (``"L2"``, ``"squared-L2"``, ``"angular"``) and ``score >= t``
for a similarity (``"cosine"``, ``"dot"``); see :func:`embedding_net.evaluation.scores.is_match`.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation.scores import is_similarity, score_matrix

__all__ = ["balanced_threshold", "estimate_threshold", "threshold_candidates"]


def threshold_candidates(scores: np.ndarray) -> np.ndarray:
    """Every distinct decision of a cut on ``scores`` (float64 array (n,), non-empty): the
    midpoints between consecutive distinct values plus one value beyond each end."""
    uniq = np.unique(scores)
    return np.concatenate([[uniq[0] - 1.0], (uniq[:-1] + uniq[1:]) / 2.0, [uniq[-1] + 1.0]])


def balanced_threshold(scores, is_same, higher_is_similar: bool = False) -> float:
    """The cut maximising balanced accuracy ``(TPR + TNR) / 2`` (Youden's J).

    Balanced, not plain accuracy: among all pairs of a many-class index the different-label
    pairs outnumber the same-label ones about (classes - 1) to 1, and the accuracy-maximising
    cut then rejects nearly every pair. Candidates are the midpoints between consecutive
    distinct scores plus one value beyond each end; among equally good cuts the middle one (by
    position in "smaller is closer" order) is returned.

    Args:
        scores: float array (n,) of pair scores.
        is_same: bool array (n,), both classes present.
        higher_is_similar: the scores are similarities (same = ``score >= t``); by default
            distances (same = ``score <= t``).

    Returns:
        the threshold, in the units of ``scores``.
    """
    sign = -1.0 if higher_is_similar else 1.0
    d = sign * np.asarray(scores, np.float64)
    y = np.asarray(is_same, bool)
    candidates = threshold_candidates(d)
    same = np.sort(d[y])
    diff = np.sort(d[~y])
    tpr = np.searchsorted(same, candidates, side="right") / len(same)
    tnr = 1.0 - np.searchsorted(diff, candidates, side="right") / len(diff)
    score = tpr + tnr
    best = np.flatnonzero(score >= score.max() - 1e-12)
    return float(sign * candidates[best[len(best) // 2]])


def estimate_threshold(
    embeddings,
    labels,
    distance="L2",
    max_items: int = 1000,
    seed: int = 0,
) -> float | None:
    """A match threshold from labelled embeddings: same-label vs different-label pairs.

    All pairs of up to ``max_items`` items (a seeded random subset) are scored with
    ``distance`` and :func:`balanced_threshold` picks the cut. On the items of an index this is
    a training-set estimate (optimistic, and near-duplicates pull it towards "closer"); pass a
    threshold measured on held-out pairs when you have one.

    Args:
        embeddings: float array (n, dim).
        labels: array (n,) or None.
        distance: distance name or ``Distance``: the threshold is in its units.
        max_items: subset size (the work is quadratic in it).
        seed: subset seed.

    Returns:
        the threshold (see the module's convention), or None when there are no labels or no
        same-label / different-label pair to learn from.
    """
    if labels is None or len(labels) < 2:
        return None
    n = len(labels)
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(n, size=min(n, max_items), replace=False))
    x = np.asarray(embeddings, np.float64)[subset]
    y = np.asarray(labels)[subset]
    d = score_matrix(x, None, distance)
    upper = np.triu_indices(len(subset), k=1)
    same = (y[:, None] == y[None, :])[upper]
    if same.all() or not same.any():
        return None
    return balanced_threshold(d[upper], same, higher_is_similar=is_similarity(distance))
