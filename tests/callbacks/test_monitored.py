"""BestCheckpoint / EarlyStopping / ReduceLROnPlateau that act on evaluated epochs only."""

import warnings

import keras
import numpy as np
import pytest

from embedding_net.callbacks import monitored


class _Scores(keras.callbacks.Callback):
    """Puts ``val_score`` into the logs of the epochs listed in ``scores`` (1-based)."""

    def __init__(self, scores, key="val_score"):
        super().__init__()
        self.scores, self.key = scores, key

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.scores:
            logs[self.key] = self.scores[epoch + 1]


def _fit(callbacks, epochs):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.zeros((4, 2), "float32")
    y = np.zeros((4, 1), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks)
    return model, [str(w.message) for w in caught]


def test_best_checkpoint_saves_on_evaluated_epochs_without_warnings(tmp_path):
    path = tmp_path / "best.keras"
    checkpoint = monitored.BestCheckpoint(
        str(path), monitor="val_score", mode="max", save_best_only=True
    )
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((path.stat().st_mtime_ns if path.exists() else None, checkpoint.best))

    scores = {2: 0.5, 4: 0.4, 6: 0.7}
    _, messages = _fit([_Scores(scores), checkpoint, Record()], epochs=6)
    times, best = zip(*seen)
    # written after epochs 2 and 6 (improvements), not after 1, 3, 4 or 5
    assert times[0] is None and times[1] is not None
    assert times[1] == times[2] == times[3] == times[4] != times[5]
    assert best[1:] == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.7])
    assert not [m for m in messages if "val_score" in m]


def test_early_stopping_counts_patience_in_evaluated_epochs():
    # evaluated every 2 epochs, no improvement after epoch 2: patience 2 = epochs 4 and 6
    stop = monitored.EarlyStopping(monitor="val_score", mode="max", patience=2)
    scores = {2: 0.5, 4: 0.4, 6: 0.3, 8: 0.2, 10: 0.1}
    model, messages = _fit([_Scores(scores), stop], epochs=10)
    assert stop.stopped_epoch + 1 == 6
    assert not [m for m in messages if "val_score" in m]


def test_reduce_on_plateau_counts_patience_in_evaluated_epochs():
    plateau = monitored.ReduceLROnPlateau(monitor="val_score", mode="max", patience=1, factor=0.5)
    model, _ = _fit([_Scores({2: 0.5, 4: 0.4, 6: 0.6}), plateau], epochs=6)
    # epoch 4 is the one evaluated epoch without improvement: one halving, at epoch 4
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_a_monitor_that_is_never_logged_is_warned_about():
    checkpoint = monitored.EarlyStopping(monitor="val_scroe", patience=1)
    _, messages = _fit([_Scores({1: 0.5, 2: 0.6}), checkpoint], epochs=2)
    assert any("'val_scroe' was never logged" in m and "val_score" in m for m in messages)
    # no validation at all (e.g. a frozen phase that did not evaluate): no warning
    _, messages = _fit([monitored.EarlyStopping(monitor="val_scroe", patience=1)], epochs=2)
    assert not [m for m in messages if "val_scroe" in m]


def test_best_checkpoint_writes_under_a_temporary_name(tmp_path, monkeypatch):
    """A save that fails midway leaves the previous best model and no temporary file."""
    path = tmp_path / "best.keras"
    checkpoint = monitored.BestCheckpoint(
        str(path), monitor="val_score", mode="max", save_best_only=True
    )
    _fit([_Scores({1: 0.5}), checkpoint], epochs=1)
    before = path.read_bytes()

    def half_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK half")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", half_save)
    checkpoint = monitored.BestCheckpoint(
        str(path), monitor="val_score", mode="max", save_best_only=True
    )
    with pytest.raises(OSError, match="disk full"):
        _fit([_Scores({1: 0.9}), checkpoint], epochs=1)
    assert path.read_bytes() == before and checkpoint.filepath == str(path)
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]
