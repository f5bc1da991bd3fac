"""Evaluation callbacks in a real (tiny) fit: logs, History, EarlyStopping, TensorBoard."""

from __future__ import annotations

import glob

import keras
import numpy as np
import pytest

from embedding_net.callbacks import RetrievalEvaluation, VerificationEvaluation
from embedding_net.evaluation import (
    pair_scores,
    reid_metrics,
    retrieval_metrics,
    verification_metrics,
)


def tiny_setup(n=48, dim=8, n_classes=4):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(n_classes), n // n_classes)
    x = (rng.standard_normal((n_classes, dim)) * 3)[labels] + rng.standard_normal((n, dim))
    model = keras.Sequential([keras.Input((dim,)), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model, x.astype("float32"), labels, np.zeros((n, 4), "float32")


def test_retrieval_and_reid_metrics_reach_history_and_early_stopping():
    model, x, labels, y = tiny_setup()
    cams = np.arange(len(x)) % 2
    retrieval = RetrievalEvaluation((x, labels), ks=(1, 5), batch_size=16)
    reid = RetrievalEvaluation(
        (x[::2], labels[::2], cams[::2]),
        (x[1::2], labels[1::2], cams[1::2]),
        protocol="reid",
        ks=(1, 5),
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_mAP", mode="max", patience=5)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[retrieval, reid, stop])
    h = history.history
    for key in ("val_precision_at_1", "val_r_precision", "val_map_at_r", "val_recall_at_5"):
        assert len(h[key]) == 2
    for key in ("val_mAP", "val_mINP", "val_rank1", "val_rank5"):
        assert len(h[key]) == 2
    assert stop.best == pytest.approx(max(h["val_mAP"]))
    # last epoch's logged values equal a direct evaluation of the trained model
    e = model.predict(x, verbose=0)
    direct = retrieval_metrics(e, labels, ks=(1, 5))
    assert h["val_map_at_r"][-1] == pytest.approx(direct["map_at_r"], abs=1e-6)
    direct = reid_metrics(e[::2], e[1::2], labels[::2], labels[1::2], cams[::2], cams[1::2])
    assert h["val_mAP"][-1] == pytest.approx(direct["mAP"], abs=1e-6)
    assert h["val_rank5"][-1] == pytest.approx(direct["cmc"][4], abs=1e-6)


def test_every_n_epochs_and_tensorboard_events(tmp_path):
    import tensorflow as tf

    model, x, labels, y = tiny_setup()
    pairs = (x[:-1], x[1:], labels[:-1] == labels[1:])
    folds = np.arange(len(x) - 1) % 4
    verification = VerificationEvaluation(
        pairs, every=2, folds=folds, log_dir=tmp_path / "tb", encoder=lambda b: np.asarray(b)
    )
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[verification])
    h = history.history
    assert len(h["val_verification_accuracy"]) == 1  # only after epoch 2
    assert len(h["loss"]) == 3
    assert 0.0 <= h["val_verification_auc"][0] <= 1.0
    expected = verification_metrics(pair_scores(x[:-1], x[1:]), pairs[2], folds=folds)
    assert h["val_verification_accuracy"][0] == pytest.approx(expected["accuracy"], abs=1e-6)
    assert "val_verification_tar_at_far_0.001" in h
    scalars = {}
    for path in glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    assert scalars[("val_verification_accuracy", 1)] == pytest.approx(
        h["val_verification_accuracy"][0]
    )
    assert ("val_verification_eer", 1) in scalars
    assert not any(step != 1 for _, step in scalars)


def test_argument_errors():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="protocol"):
        RetrievalEvaluation((x, [0, 0, 1, 1]), protocol="cmc")
    with pytest.raises(ValueError, match="gallery_data"):
        RetrievalEvaluation((x, [0, 0, 1, 1], [0, 1, 0, 1]), protocol="reid")
    with pytest.raises(ValueError, match="query_data"):
        RetrievalEvaluation((x,))
    with pytest.raises(ValueError, match="every"):
        RetrievalEvaluation((x, [0, 0, 1, 1]), every=0)
    with pytest.raises(ValueError, match="pairs_data"):
        VerificationEvaluation((x, x))


def test_custom_encoder_and_flip():
    model, x, labels, y = tiny_setup()
    images = x.reshape(len(x), 2, 4, 1)  # "images" for the flip; the encoder flattens them

    def encoder(batch):
        return np.asarray(batch).reshape(len(batch), -1)[:, :5]

    cb = RetrievalEvaluation((images, labels), ks=(1,), encoder=encoder, flip=True)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[cb])
    e = (encoder(images) + encoder(images[:, :, ::-1])) / 2
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    expected = retrieval_metrics(e, labels, ks=(1,))["map_at_r"]
    assert history.history["val_map_at_r"][0] == pytest.approx(expected, abs=1e-6)
