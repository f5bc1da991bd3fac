"""Pair verification metrics (LFW protocol): k-fold accuracy, ROC AUC, EER, TAR@FAR, F1.

LFW protocol (Huang et al. 2007, "unrestricted" view 2): the pairs are split into
``n_folds`` contiguous blocks in pairs-file order; for each fold the decision threshold is
chosen on the other folds only and accuracy is measured on the held-out fold. The reported
accuracy is the mean (and std) of the fold accuracies.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation._inputs import check_positive_int, to_numpy
from embedding_net.evaluation.scores import is_similarity, pair_scores
from embedding_net.evaluation.thresholds import threshold_candidates

__all__ = [
    "best_threshold",
    "evaluate_lfw_pairs",
    "lfw_block_folds",
    "pair_scores",
    "verification_metrics",
]

DEFAULT_FAR_LEVELS = (1e-3, 1e-2)


def _check_pairs(scores, is_same):
    s = to_numpy(scores, "scores")
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"`scores` must be 1-D (n_pairs,), got shape {s.shape}.")
    if s.shape[0] == 0:
        raise ValueError("`scores` is empty; at least one pair is needed.")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError("`scores` contains NaN or infinite values.")
    y = to_numpy(is_same, "is_same")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != s.shape:
        raise ValueError(f"`is_same` must have shape {s.shape} like `scores`, got {y.shape}.")
    if y.dtype != bool:
        if y.dtype.kind not in "iuf" or not np.all((y == 0) | (y == 1)):
            raise ValueError("`is_same` must hold booleans or 0/1 values.")
        y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError("`is_same` must contain both matching (1) and non-matching (0) pairs.")
    return s, y


def best_threshold(similarities, is_same) -> float:
    """Threshold maximising accuracy of ``similarity >= threshold`` on the given pairs.

    Candidates are the midpoints between consecutive distinct similarities plus one value
    below the minimum and one above the maximum (every distinct decision is reachable). When
    several candidates reach the best accuracy, the middle one (by position) is returned.

    Args:
        similarities: float array (n,), higher = more similar.
        is_same: bool array (n,).

    Returns:
        The threshold (float).
    """
    s = np.asarray(similarities, dtype=np.float64)
    y = np.asarray(is_same, dtype=bool)
    candidates = threshold_candidates(s)
    same = np.sort(s[y])
    diff = np.sort(s[~y])
    true_accept = same.shape[0] - np.searchsorted(same, candidates, side="left")
    true_reject = np.searchsorted(diff, candidates, side="left")
    correct = true_accept + true_reject
    best = np.flatnonzero(correct == correct.max())
    return float(candidates[best[best.shape[0] // 2]])


def _f1(pred, y) -> float:
    tp = np.sum(pred & y)
    fp = np.sum(pred & ~y)
    fn = np.sum(~pred & y)
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0


def _roc(s, y):
    """ROC points for ``s >= t`` at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    # last index of each block of equal scores
    ends = np.concatenate([np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), [s.shape[0] - 1]])
    tp = np.cumsum(y_sorted)[ends]
    fp = np.cumsum(~y_sorted)[ends]
    tpr = np.concatenate([[0.0], tp / y.sum()])
    fpr = np.concatenate([[0.0], fp / (~y).sum()])
    return fpr, tpr


def _eer(fpr, tpr) -> float:
    """Equal error rate: where FPR = FNR on the linearly interpolated ROC curve."""
    gap = (1.0 - tpr) - fpr  # decreasing from 1 to -1
    i = int(np.flatnonzero(gap <= 0)[0])
    if i == 0 or gap[i] == 0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def _fold_rows(folds, n_folds: int, shape) -> list:
    """Row positions of each fold: ``n_folds`` contiguous blocks, or the given fold ids."""
    if folds is None:
        return np.array_split(np.arange(shape[0]), n_folds)
    fold_ids = to_numpy(folds, "folds")
    if fold_ids.shape != shape or fold_ids.dtype.kind not in "iu":
        raise ValueError(f"`folds` must be an int array of shape {shape}.")
    unique_folds = np.unique(fold_ids)
    if unique_folds.shape[0] < 2:
        raise ValueError("`folds` must hold at least 2 distinct fold ids.")
    return [np.flatnonzero(fold_ids == f) for f in unique_folds]


def _auc(sim, y) -> float:
    """ROC area by the rank statistic (Mann-Whitney), ties counted 1/2."""
    n_same, n_diff = int(y.sum()), int((~y).sum())
    order = np.argsort(sim, kind="stable")
    ranks = np.empty(sim.shape[0])
    sorted_sim = sim[order]
    _, first, counts = np.unique(sorted_sim, return_index=True, return_counts=True)
    average_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average_rank, counts)
    return float((ranks[y].sum() - n_same * (n_same + 1) / 2.0) / (n_same * n_diff))


def _at_threshold(sim, y, sign: float, threshold) -> dict:
    """F1 and accuracy of all pairs at a fixed threshold (in the units of the scores)."""
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"`threshold` must be finite, got {threshold}.")
    fixed = sim >= sign * threshold
    return {"f1_at_threshold": _f1(fixed, y), "accuracy_at_threshold": float(np.mean(fixed == y))}


def verification_metrics(
    scores,
    is_same,
    n_folds: int = 10,
    higher_is_similar: bool = True,
    threshold: float | None = None,
    far_levels=DEFAULT_FAR_LEVELS,
    folds=None,
) -> dict:
    """Verification metrics of scored pairs with the LFW k-fold protocol.

    Args:
        scores: float array (n_pairs,), a similarity (``higher_is_similar=True``, e.g. cosine
            similarity) or a distance (``higher_is_similar=False``), in pairs-file order.
        is_same: bool or 0/1 array (n_pairs,), True for matching pairs.
        n_folds: number of contiguous folds (LFW: 10). Fold ``i`` holds pairs
            ``np.array_split(range(n_pairs), n_folds)[i]``, like ``KFold(shuffle=False)``.
        higher_is_similar: direction of ``scores``.
        threshold: optional fixed threshold (in ``scores`` units) at which ``f1_at_threshold``
            and ``accuracy_at_threshold`` are also reported on all pairs.
        far_levels: false accept rates at which the true accept rate is reported.
        folds: optional int array (n_pairs,) of fold ids (e.g. ``LFWPairs.folds``); when
            given it replaces the ``n_folds`` contiguous split.

    Returns:
        dict with
        ``accuracy`` / ``accuracy_std``: mean / std of the held-out fold accuracies;
        ``threshold``: mean of the fold thresholds (in ``scores`` units);
        ``fold_thresholds``, ``fold_accuracies``: per fold lists;
        ``auc``: ROC area (ties count 1/2); ``eer``: equal error rate (interpolated ROC);
        ``tar_at_far``: ``{far: largest TPR whose FPR <= far}`` over all pairs;
        ``f1``: F1 of the pooled held-out predictions, each pair judged with its own fold's
        threshold; and, when ``threshold`` is given, ``f1_at_threshold`` and
        ``accuracy_at_threshold``. A pair is predicted "same" when ``score >= threshold``
        (similarity) or ``score <= threshold`` (distance).

    Raises:
        ValueError: for empty / NaN scores, mismatched shapes, a single pair class, or
            ``n_folds`` outside ``[2, n_pairs]``.
    """
    s, y = _check_pairs(scores, is_same)
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    if n_folds > s.shape[0]:
        raise ValueError(
            f"`n_folds` ({n_folds}) is larger than the number of pairs ({s.shape[0]})."
        )
    sign = 1.0 if higher_is_similar else -1.0
    sim = sign * s

    folds = _fold_rows(folds, n_folds, s.shape)
    fold_thresholds, fold_accuracies = [], []
    pred = np.zeros(s.shape[0], dtype=bool)
    for test in folds:
        train = np.ones(s.shape[0], dtype=bool)
        train[test] = False
        t = best_threshold(sim[train], y[train])
        pred[test] = sim[test] >= t
        fold_thresholds.append(sign * t)
        fold_accuracies.append(float(np.mean(pred[test] == y[test])))

    fpr, tpr = _roc(sim, y)
    auc = _auc(sim, y)

    result = {
        "accuracy": float(np.mean(fold_accuracies)),
        "accuracy_std": float(np.std(fold_accuracies)),
        "threshold": float(np.mean(fold_thresholds)),
        "fold_thresholds": [float(t) for t in fold_thresholds],
        "fold_accuracies": fold_accuracies,
        "auc": float(auc),
        "eer": _eer(fpr, tpr),
        "tar_at_far": {float(far): float(tpr[fpr <= far].max()) for far in far_levels},
        "f1": _f1(pred, y),
    }
    if threshold is not None:
        result.update(_at_threshold(sim, y, sign, threshold))
    return result


def lfw_block_folds(is_same, n_folds: int = 10) -> np.ndarray:
    """Fold ids for a one-set LFW pairs file, built like the 10 sets of View 2.

    The matched pairs and the mismatched pairs are each split into ``n_folds`` contiguous
    blocks in file order; fold ``i`` = matched block ``i`` + mismatched block ``i``. (Plain
    contiguous folds of a file listing all matched pairs first would give single-class folds.)

    Args:
        is_same: bool array (n_pairs,) in file order.
        n_folds: number of folds.

    Returns:
        int array (n_pairs,) of fold ids.
    """
    y = np.asarray(is_same, dtype=bool)
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    folds = np.empty(y.shape[0], dtype=np.int64)
    for value in (True, False):
        positions = np.flatnonzero(y == value)
        for fold, block in enumerate(np.array_split(positions, n_folds)):
            folds[block] = fold
    return folds


def _network_image_size(network):
    shape = getattr(network, "image_shape", None)
    if shape is None:
        shape = getattr(network, "input_shape", None)
        shape = None if shape is None else tuple(shape)[1:]
    if shape is None or len(shape) < 2 or shape[0] is None or shape[1] is None:
        raise ValueError(
            "`image_size` could not be read from the network (no fixed input shape); "
            "pass image_size=(height, width)."
        )
    return int(shape[0]), int(shape[1])


def evaluate_lfw_pairs(
    network,
    pairs_file,
    image_root,
    image_size=None,
    batch_size: int = 64,
    flip: bool = False,
    distance: str = "cosine",
    n_folds: int = 10,
) -> dict:
    """Face verification of a network on an LFW pairs file (10-fold View 2 protocol).

    Pairs are read with :func:`embedding_net.data.read_lfw_pairs` (pairs with missing images
    are dropped with a warning), each distinct image is loaded once
    (:func:`embedding_net.data.load_images`, uint8 RGB) and encoded, and the pair scores go
    to :func:`verification_metrics`. The folds of the file are used when it has several
    (``pairs.txt``: 10 sets of 300 matched + 300 mismatched lines); a one-set file (View 1,
    ``pairs_sample.txt``: N matched then N mismatched lines) gets ``n_folds`` folds built the
    same way (:func:`lfw_block_folds`), so that no fold holds only one pair class.

    Args:
        network: model with ``encode`` / ``predict``, or a callable on image batches.
        pairs_file: LFW pairs file.
        image_root: folder holding ``Name/Name_NNNN.jpg``.
        image_size: (height, width); default: read from the network's input shape.
        batch_size: images per forward pass.
        flip: flip test-time augmentation (:func:`encode_with_flip`).
        distance: pair score, a distance name or ``Distance`` (default ``"cosine"``, a
            similarity; ``"L2"`` / ``"euclidean"`` is a distance): the returned ``threshold``
            is in its units.
        n_folds: folds for one-fold files.

    Returns:
        the :func:`verification_metrics` dict plus ``num_pairs``.
    """
    from embedding_net.data import load_images, read_lfw_pairs
    from embedding_net.evaluation.encoding import encode_images, encode_with_flip

    pairs = read_lfw_pairs(pairs_file, image_root)
    if len(pairs.paths1) == 0:
        raise ValueError(f"evaluate_lfw_pairs: no usable pair in {pairs_file}.")
    size = tuple(image_size) if image_size is not None else _network_image_size(network)
    unique = sorted(set(pairs.paths1) | set(pairs.paths2))
    loaded = load_images(unique, image_size=size)
    position = {unique[i]: row for row, i in enumerate(loaded.kept)}
    usable = np.array([a in position and b in position for a, b in zip(pairs.paths1, pairs.paths2)])
    if not usable.any():
        raise ValueError(f"evaluate_lfw_pairs: no pair of {pairs_file} has readable images.")
    if flip:
        embeddings = encode_with_flip(network, loaded.images, batch_size)
    else:
        embeddings = encode_images(network, loaded.images, batch_size)
    idx_a = np.array([position[p] for p, u in zip(pairs.paths1, usable) if u])
    idx_b = np.array([position[p] for p, u in zip(pairs.paths2, usable) if u])
    scores = pair_scores(embeddings[idx_a], embeddings[idx_b], distance)
    is_same = pairs.is_same[usable]
    folds = pairs.folds[usable]
    if np.unique(folds).shape[0] < 2:
        folds = lfw_block_folds(is_same, n_folds)
    result = verification_metrics(
        scores, is_same, higher_is_similar=is_similarity(distance), folds=folds
    )
    result["num_pairs"] = int(usable.sum())
    return result
