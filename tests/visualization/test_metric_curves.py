"""ROC/EER, distance histograms, threshold sweep, CMC and training-history plots."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.visualization import (
    plot_cmc,
    plot_distance_histograms,
    plot_history,
    plot_roc,
    plot_threshold_sweep,
    roc_points,
    threshold_sweep,
)
from tests.visualization.png_checks import load_png


def _verification(num: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    is_same = rng.random(num) < 0.4
    scores = np.round(rng.normal(size=num) + 1.2 * is_same, 2)  # rounding creates ties
    return scores, is_same


def _brute_auc(scores, is_same):
    pos, neg = scores[is_same][:, None], scores[~is_same][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def _brute_sweep(scores, is_same, thresholds, higher_is_similar):
    accuracy, f1 = [], []
    for t in thresholds:
        predicted = scores >= t if higher_is_similar else scores <= t
        tp = np.sum(predicted & is_same)
        fp = np.sum(predicted & ~is_same)
        fn = np.sum(~predicted & is_same)
        accuracy.append(np.mean(predicted == is_same))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return np.array(accuracy), np.array(f1)


@pytest.mark.parametrize("higher_is_similar", [True, False])
def test_roc_points_match_brute_force(higher_is_similar):
    scores, is_same = _verification()
    signed = scores if higher_is_similar else -scores
    roc = roc_points(signed, is_same, higher_is_similar=higher_is_similar)
    assert roc["auc"] == pytest.approx(_brute_auc(scores, is_same), abs=1e-12)
    # EER: where FPR == FNR; brute-force scan over every threshold on the original scores
    fpr = np.array([np.mean(scores[~is_same] >= t) for t in np.unique(scores)])
    fnr = np.array([np.mean(scores[is_same] < t) for t in np.unique(scores)])
    best = np.argmin(np.abs(fpr - fnr))
    assert roc["eer"] == pytest.approx((fpr[best] + fnr[best]) / 2, abs=0.02)
    assert 0 <= roc["eer"] <= 1


def test_roc_perfect_and_worst_separation():
    is_same = np.array([True, True, False, False])
    perfect = roc_points([0.9, 0.8, 0.1, 0.2], is_same)
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0
    assert 0.2 <= perfect["eer_threshold"] <= 0.8
    worst = roc_points([0.1, 0.2, 0.9, 0.8], is_same)
    assert worst["auc"] == 0.0 and worst["eer"] == 1.0


def test_roc_identical_scores_and_jax_inputs():
    tied = roc_points([0.5, 0.5, 0.5, 0.5], [True, True, False, False])
    assert tied["auc"] == 0.5 and tied["eer"] == 0.5 and tied["eer_threshold"] == 0.5
    jnp = pytest.importorskip("jax.numpy")
    scores, is_same = _verification(seed=5)
    from_jax = roc_points(jnp.asarray(scores), jnp.asarray(is_same))
    assert from_jax["auc"] == pytest.approx(_brute_auc(scores, is_same), abs=1e-6)


def test_plot_roc_renders(tmp_path):
    scores, is_same = _verification()
    figure = plot_roc(scores, is_same, path=tmp_path / "roc.png")
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels[0] == f"ROC (AUC = {_brute_auc(scores, is_same):.4f})"
    assert any(label.startswith("EER = ") for label in labels)
    load_png(tmp_path / "roc.png", min_width=350, min_height=300)
    plot_roc(-scores, is_same, higher_is_similar=False, log_fpr=True, path=tmp_path / "log.png")
    load_png(tmp_path / "log.png", min_width=350, min_height=300)


@pytest.mark.parametrize("higher_is_similar", [True, False])
def test_threshold_sweep_matches_brute_force(higher_is_similar):
    scores, is_same = _verification(seed=1)
    sweep = threshold_sweep(scores, is_same, higher_is_similar=higher_is_similar)
    np.testing.assert_array_equal(sweep["thresholds"], np.unique(scores))
    accuracy, f1 = _brute_sweep(scores, is_same, sweep["thresholds"], higher_is_similar)
    np.testing.assert_allclose(sweep["accuracy"], accuracy)
    np.testing.assert_allclose(sweep["f1"], f1)
    given = np.array([-10.0, 0.0, 0.5, 10.0])
    custom = threshold_sweep(scores, is_same, given, higher_is_similar)
    accuracy, f1 = _brute_sweep(scores, is_same, given, higher_is_similar)
    np.testing.assert_allclose(custom["accuracy"], accuracy)
    np.testing.assert_allclose(custom["f1"], f1)


def test_threshold_sweep_many_scores_uses_quantiles():
    rng = np.random.default_rng(2)
    scores, is_same = rng.normal(size=5000), rng.random(5000) < 0.5
    sweep = threshold_sweep(scores, is_same)
    assert 900 <= sweep["thresholds"].size <= 1000
    accuracy, _ = _brute_sweep(scores, is_same, sweep["thresholds"][::97], True)
    np.testing.assert_allclose(sweep["accuracy"][::97], accuracy)


def test_plot_threshold_sweep_marks_best(tmp_path):
    scores, is_same = _verification(seed=3)
    figure = plot_threshold_sweep(scores, is_same, path=tmp_path / "sweep.png")
    accuracy, f1 = _brute_sweep(scores, is_same, np.unique(scores), True)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert f"best accuracy {accuracy.max():.4f} at" in " ".join(labels)
    assert f"best f1 {f1.max():.4f} at" in " ".join(labels)
    load_png(tmp_path / "sweep.png", min_width=400, min_height=250)


def test_verification_input_errors():
    with pytest.raises(ValueError, match="is_same must hold both"):
        roc_points([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="is_same has 1 entries but scores has 2"):
        plot_roc([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="scores holds NaN"):
        plot_threshold_sweep([0.1, np.nan], [True, False])
    with pytest.raises(ValueError, match="scores is empty"):
        threshold_sweep([], [])


def test_distance_histograms(tmp_path):
    rng = np.random.default_rng(4)
    figure = plot_distance_histograms(
        rng.normal(0.5, 0.1, 200),
        rng.normal(1.0, 0.2, 300),
        threshold=0.75,
        path=tmp_path / "h.png",
    )
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == ["positive pairs (n=200)", "negative pairs (n=300)", "threshold = 0.75"]
    load_png(tmp_path / "h.png", min_width=400, min_height=250)
    # identical distances (degenerate range) still render
    plot_distance_histograms(np.ones(3), np.ones(3), path=tmp_path / "same.png")
    load_png(tmp_path / "same.png", min_width=400, min_height=250)
    with pytest.raises(ValueError, match="negative_distances is empty"):
        plot_distance_histograms([0.1], [])
    with pytest.raises(ValueError, match="positive_distances holds NaN"):
        plot_distance_histograms([np.nan], [0.1])


def test_cmc_single_and_dict(tmp_path):
    cmc = np.array([0.5, 0.7, 0.8, 0.9, 1.0])
    figure = plot_cmc(cmc, path=tmp_path / "cmc.png")
    line = figure.axes[0].get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))
    np.testing.assert_array_equal(line.get_ydata(), cmc)
    load_png(tmp_path / "cmc.png", min_width=400, min_height=250)
    figure = plot_cmc({"baseline": cmc * 0.8, "ours": cmc}, max_rank=3, path=tmp_path / "two.png")
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == ["baseline (rank-1 0.400)", "ours (rank-1 0.500)"]
    assert all(len(line.get_xdata()) == 3 for line in figure.axes[0].get_lines())
    load_png(tmp_path / "two.png", min_width=400, min_height=250)
    with pytest.raises(ValueError, match=r"must hold rates in \[0, 1\]"):
        plot_cmc(cmc * 100)
    with pytest.raises(ValueError, match="cmc is an empty dict"):
        plot_cmc({})


def test_history_from_keras_fit_and_dict(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    history = model.fit(x, x[:, :1], epochs=3, validation_split=0.25, verbose=0)
    figure = plot_history(history, path=tmp_path / "history.png")
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["loss", "mae"]
    np.testing.assert_allclose(figure.axes[0].get_lines()[0].get_ydata(), history.history["loss"])
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["train", "validation"]
    load_png(tmp_path / "history.png", min_width=500, min_height=200)
    figure = plot_history({"val_loss": [1.0, 0.5]})
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["validation"]
    with pytest.raises(ValueError, match="history_or_dict must be a keras History or a dict"):
        plot_history([1, 2])
    with pytest.raises(ValueError, match="holds no metric values"):
        plot_history({"loss": []})
