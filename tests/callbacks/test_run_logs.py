"""LearningRateLog and RunCSVLogger: columns that appear late, rows kept on resume."""

import csv

import keras
import numpy as np

from embedding_net.callbacks import LearningRateLog, RunCSVLogger


class _Late(keras.callbacks.Callback):
    """Logs ``val_x`` from the second epoch on (validation every few epochs)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= 1:
            logs["val_x"] = float(epoch)
            logs["vector"] = np.array([1.0, 2.0])


def _fit(path, epochs, initial_epoch=0, extra=()):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    callbacks = [*extra, LearningRateLog(), RunCSVLogger(path)]
    return model.fit(
        x, y, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks
    )


def _rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_columns_widen_when_a_key_first_appears(tmp_path):
    path = tmp_path / "history.csv"
    history = _fit(path, 3, extra=[_Late()])
    header, rows = _rows(path)
    assert header == ["epoch", "learning_rate", "loss", "val_x", "vector"]
    assert [r["val_x"] for r in rows] == ["", "1.0", "2.0"]
    assert rows[2]["vector"] == "[1.0, 2.0]"
    np.testing.assert_allclose([float(r["learning_rate"]) for r in rows], 0.05, rtol=1e-6)
    assert history.history["learning_rate"] == [float(r["learning_rate"]) for r in rows]


def test_resume_keeps_the_rows_already_written(tmp_path):
    path = tmp_path / "history.csv"
    _fit(path, 2)
    _fit(path, 4, initial_epoch=2)
    header, rows = _rows(path)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3] and header[0] == "epoch"


def test_learning_rate_already_logged_is_left_alone():
    log = LearningRateLog()
    logs = {"learning_rate": 0.5}
    log.on_epoch_end(0, logs)
    assert logs == {"learning_rate": 0.5}


def test_resume_replaces_the_rows_of_epochs_run_again(tmp_path):
    """A run killed after an epoch's row but before its backup runs that epoch again."""
    path = tmp_path / "history.csv"
    _fit(path, 3)
    _fit(path, 4, initial_epoch=2)
    _, rows = _rows(path)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]  # no temporary left
