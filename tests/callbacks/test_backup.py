"""EpochBackup writes the files of Keras' BackupAndRestore; restore_backup reads them back."""

import json

import keras
import numpy as np
import pytest

from embedding_net.callbacks import EpochBackup, backup_epoch, restore_backup


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


def test_backup_after_every_epoch_and_restore_weights_optimizer_and_epoch(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[EpochBackup(tmp_path / "b")])
    metadata = json.loads((tmp_path / "b" / "training_metadata.json").read_text())
    assert metadata == {"epoch": 3, "batch": 0} and backup_epoch(tmp_path / "b") == 3

    fresh = _model()
    assert restore_backup(fresh, tmp_path / "b") == 3
    for restored, trained in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(restored), np.asarray(trained))
    optimizer_state = [np.asarray(v) for v in model.optimizer.variables]
    for restored, trained in zip(fresh.optimizer.variables, optimizer_state):
        np.testing.assert_array_equal(np.asarray(restored), trained)
    # the epoch to continue from is an argument of fit, nothing is left on the model
    history = fresh.fit(x, y, epochs=4, initial_epoch=3, verbose=0)
    assert history.epoch == [3]


def test_no_backup_restores_nothing(tmp_path):
    model = _model()
    before = [np.asarray(w).copy() for w in model.weights]
    assert backup_epoch(tmp_path / "missing") == 0
    assert restore_backup(model, tmp_path / "missing") == 0
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, model.weights))


def test_keras_backup_and_restore_reads_the_same_files(tmp_path):
    x, y = _data()
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[EpochBackup(tmp_path / "b")])
    model = _model()
    keras_backup = keras.callbacks.BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[keras_backup])
    assert history.epoch == [2]


def test_empty_backup_dir_is_refused():
    with pytest.raises(ValueError, match="backup_dir"):
        EpochBackup("")
