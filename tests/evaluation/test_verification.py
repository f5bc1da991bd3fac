"""verification_metrics against brute-force loops and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.evaluation import verification_metrics


def brute_auc(s, y):
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def brute_tar_at_far(s, y, far):
    best = 0.0
    for t in np.concatenate([np.unique(s), [np.inf]]):
        fpr = np.mean(s[~y] >= t)
        if fpr <= far:
            best = max(best, np.mean(s[y] >= t))
    return best


def train_accuracy(s, y, t):
    return np.mean((s >= t) == y)


def random_pairs(rng, n=400):
    y = rng.random(n) < 0.5
    s = rng.normal(loc=np.where(y, 1.0, 0.0), scale=0.8)
    return s, y


def test_folds_thresholds_and_accuracy_match_brute_force():
    rng = np.random.default_rng(0)
    s, y = random_pairs(rng, 403)
    res = verification_metrics(s, y, n_folds=10)
    folds = np.array_split(np.arange(403), 10)
    accs = []
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(403), test)
        t = res["fold_thresholds"][k]
        # the chosen threshold reaches the best accuracy reachable on the training folds
        candidates = np.concatenate([np.unique(s[train]), [np.inf]])
        best = max(train_accuracy(s[train], y[train], c) for c in candidates)
        assert train_accuracy(s[train], y[train], t) == pytest.approx(best)
        accs.append(np.mean((s[test] >= t) == y[test]))
    assert res["fold_accuracies"] == pytest.approx(accs)
    assert res["accuracy"] == pytest.approx(np.mean(accs))
    assert res["accuracy_std"] == pytest.approx(np.std(accs))
    assert res["threshold"] == pytest.approx(np.mean(res["fold_thresholds"]))
    assert res["auc"] == pytest.approx(brute_auc(s, y))
    for far in (1e-3, 1e-2):
        assert res["tar_at_far"][far] == pytest.approx(brute_tar_at_far(s, y, far))


def test_fold_threshold_never_sees_its_fold():
    # folds 1..9 separate at 0.5; fold 0 would want a threshold near 0.15
    rng = np.random.default_rng(1)
    y = np.tile([True, False], 100)
    s = np.where(y, rng.uniform(0.6, 0.9, 200), rng.uniform(0.1, 0.4, 200))
    s[:20] = np.where(y[:20], rng.uniform(0.2, 0.3, 20), rng.uniform(0.0, 0.1, 20))
    res = verification_metrics(s, y, n_folds=10)
    assert 0.4 < res["fold_thresholds"][0] < 0.6
    assert res["fold_accuracies"][0] == pytest.approx(0.5)  # its own same-pairs fall below
    # changing only fold 0's scores leaves fold 0's threshold unchanged
    s2 = s.copy()
    s2[:20] = rng.uniform(-5, 5, 20)
    res2 = verification_metrics(s2, y, n_folds=10)
    assert res2["fold_thresholds"][0] == res["fold_thresholds"][0]


def test_distances_equal_negated_similarities():
    rng = np.random.default_rng(2)
    s, y = random_pairs(rng)
    a = verification_metrics(s, y, threshold=0.4)
    b = verification_metrics(-s, y, higher_is_similar=False, threshold=-0.4)
    for key in ("accuracy", "auc", "eer", "f1", "f1_at_threshold", "accuracy_at_threshold"):
        assert a[key] == pytest.approx(b[key])
    assert b["threshold"] == pytest.approx(-a["threshold"])


def test_hand_computed_roc_case():
    # same: .9, .3 ; different: .6, .1 -> ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1)
    s = np.array([0.9, 0.6, 0.3, 0.1])
    y = np.array([1, 0, 1, 0])
    res = verification_metrics(s, y, n_folds=2, threshold=0.5)
    assert res["auc"] == pytest.approx(0.75)
    assert res["eer"] == pytest.approx(0.5)
    # fixed threshold .5: predicted same {.9, .6}: tp=1 fp=1 fn=1 -> f1 = 2/4
    assert res["f1_at_threshold"] == pytest.approx(0.5)
    assert res["accuracy_at_threshold"] == pytest.approx(0.5)


def test_perfect_separation():
    y = np.array([1, 1, 1, 0, 0, 0] * 5, dtype=bool)
    s = np.where(y, 1.0, 0.0) + np.linspace(0, 0.1, 30)
    res = verification_metrics(s, y, n_folds=5)
    assert res["accuracy"] == 1.0
    assert res["auc"] == 1.0
    assert res["eer"] == 0.0
    assert res["tar_at_far"][1e-3] == 1.0
    assert res["f1"] == 1.0


def test_identical_scores():
    y = np.array([1, 0] * 10, dtype=bool)
    res = verification_metrics(np.zeros(20), y, n_folds=2)  # balanced folds
    assert res["auc"] == pytest.approx(0.5)
    assert res["eer"] == pytest.approx(0.5)
    assert res["tar_at_far"][1e-2] == 0.0
    assert res["accuracy"] == pytest.approx(0.5)


def test_input_errors():
    s = np.linspace(0, 1, 10)
    y = np.array([0, 1] * 5)
    with pytest.raises(ValueError, match="scores"):
        verification_metrics(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="scores"):
        verification_metrics(np.where(y, np.nan, 0.0), y)
    with pytest.raises(ValueError, match="is_same"):
        verification_metrics(s, y[:-1])
    with pytest.raises(ValueError, match="is_same"):
        verification_metrics(s, np.ones(10))
    with pytest.raises(ValueError, match="is_same"):
        verification_metrics(s, y * 2)
    with pytest.raises(ValueError, match="n_folds"):
        verification_metrics(s, y, n_folds=1)
    with pytest.raises(ValueError, match="n_folds"):
        verification_metrics(s, y, n_folds=11)


def test_explicit_folds_and_pair_scores():
    from embedding_net.evaluation import pair_scores

    rng = np.random.default_rng(5)
    s, y = random_pairs(rng, 60)
    ids = np.repeat(np.arange(6), 10)
    a = verification_metrics(s, y, folds=ids)
    b = verification_metrics(s, y, n_folds=6)
    assert a["fold_thresholds"] == b["fold_thresholds"]
    with pytest.raises(ValueError, match="folds"):
        verification_metrics(s, y, folds=np.zeros(60, int))
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    cos = [x1[i] @ x2[i] / np.linalg.norm(x1[i]) / np.linalg.norm(x2[i]) for i in range(5)]
    np.testing.assert_allclose(pair_scores(x1, x2), cos)
    np.testing.assert_allclose(pair_scores(x1, x2, "euclidean"), np.linalg.norm(x1 - x2, axis=1))


def test_lfw_block_folds():
    from embedding_net.evaluation import lfw_block_folds

    y = np.array([1] * 7 + [0] * 7, dtype=bool)
    folds = lfw_block_folds(y, n_folds=3)
    np.testing.assert_array_equal(folds, [0, 0, 0, 1, 1, 2, 2] * 2)
    for f in range(3):  # every fold holds both pair classes
        assert y[folds == f].any() and (~y[folds == f]).any()
