"""Keras callbacks that watch a validation metric, for runs that validate every few epochs.

``ModelCheckpoint(save_best_only=True)``, ``EarlyStopping`` and ``ReduceLROnPlateau`` warn on
every epoch whose logs lack their ``monitor`` (with ``validation.every: 5``, four epochs in
five). These versions skip such epochs quietly and act on the evaluated ones exactly as Keras'
own do. A ``monitor`` that never appears although other ``val_*`` metrics were logged (a
typo, a metric of another protocol) is warned about at the end of ``fit``.
"""

from __future__ import annotations

import warnings

import keras

from embedding_net.atomic import atomic_path


class _OnEvaluatedEpochs:
    def on_train_begin(self, logs=None):
        self._logged_val_keys: set[str] = set()
        self._monitor_seen = False
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self._logged_val_keys.update(k for k in logs if k.startswith("val_"))
        if self.monitor in logs:
            self._monitor_seen = True
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if not self._monitor_seen and self._logged_val_keys:
            warnings.warn(
                f"{type(self).__name__}: monitor {self.monitor!r} was never logged; the "
                f"validation logged {sorted(self._logged_val_keys)}",
                stacklevel=2,
            )
        super().on_train_end(logs)


class BestCheckpoint(_OnEvaluatedEpochs, keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` that only looks at epochs whose logs have ``monitor``, and (for a
    ``filepath`` without ``{epoch}``-style fields) writes under a temporary name renamed into
    place, so a run killed while it saves keeps the previous best model intact."""

    def on_epoch_end(self, epoch, logs=None):
        final = self.filepath
        if "{" in final:
            return super().on_epoch_end(epoch, logs)
        try:
            with atomic_path(final, missing_ok=True) as tmp:
                self.filepath = str(tmp)
                super().on_epoch_end(epoch, logs)
        finally:
            self.filepath = final


class EarlyStopping(_OnEvaluatedEpochs, keras.callbacks.EarlyStopping):
    """``EarlyStopping`` counting patience in evaluated epochs only."""


class ReduceLROnPlateau(_OnEvaluatedEpochs, keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` counting patience in evaluated epochs only."""
