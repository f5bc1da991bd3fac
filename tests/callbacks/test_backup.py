"""EpochBackup writes the files of Keras' BackupAndRestore; restore_backup reads them back."""

import json

import keras
import numpy as np
import pytest

from embedding_net.callbacks import BackupError, EpochBackup, backup_epoch, restore_backup


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
    sha256 = metadata.pop("sha256")  # of the weights file: restore checks it
    assert metadata == {"epoch": 3, "batch": 0} and backup_epoch(tmp_path / "b") == 3
    assert len(sha256) == 64

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


def _backed_up(tmp_path, epochs=2):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[EpochBackup(tmp_path / "b")])
    return model, tmp_path / "b"


def test_truncated_weights_are_refused_by_name(tmp_path):
    _, backup = _backed_up(tmp_path)
    weights = backup / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(BackupError, match=r"latest\.weights\.h5 does not match .*truncated"):
        restore_backup(_model(), backup)


def test_weights_without_metadata_are_refused(tmp_path):
    _, backup = _backed_up(tmp_path)
    (backup / "training_metadata.json").unlink()
    with pytest.raises(BackupError, match=r"has no training_metadata\.json"):
        restore_backup(_model(), backup)


@pytest.mark.parametrize("text", ['{"epoch": 2', '{"epoch": "2"}', "[1]", '{"epoch": -1}'])
def test_malformed_metadata_is_refused_by_name(tmp_path, text):
    _, backup = _backed_up(tmp_path)
    (backup / "training_metadata.json").write_text(text)
    with pytest.raises(BackupError, match=r"training_metadata\.json"):
        restore_backup(_model(), backup)
    with pytest.raises(BackupError, match=r"training_metadata\.json"):
        backup_epoch(backup)


def test_metadata_naming_missing_weights_is_refused(tmp_path):
    _, backup = _backed_up(tmp_path)
    (backup / "latest.weights.h5").unlink()
    with pytest.raises(BackupError, match=r"records 2 epoch\(s\) but .* is missing"):
        restore_backup(_model(), backup)


def test_a_kill_between_the_weights_and_the_metadata_loses_no_epoch(tmp_path):
    """Killed after the new weights were renamed into place, before the metadata of their
    epoch was written: the pending entry vouches for them."""
    model, backup = _backed_up(tmp_path, epochs=2)
    metadata_path = backup / "training_metadata.json"
    committed = json.loads(metadata_path.read_text())
    x, y = _data()
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[EpochBackup(backup)])
    final = json.loads(metadata_path.read_text())
    metadata_path.write_text(
        json.dumps({**committed, "pending": {"epoch": 3, "sha256": final["sha256"]}})
    )
    fresh = _model()
    assert restore_backup(fresh, backup) == 3
    for restored, trained in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(restored), np.asarray(trained))


def test_no_temporary_file_is_left_in_the_backup(tmp_path):
    _, backup = _backed_up(tmp_path)
    assert sorted(p.name for p in backup.iterdir()) == [
        "latest.weights.h5",
        "training_metadata.json",
    ]
