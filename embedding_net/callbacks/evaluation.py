"""Epoch-end evaluation callbacks: retrieval / re-id metrics and pair verification metrics.

Each callback encodes a validation set every ``every`` epochs, adds the metrics to ``logs``
(so ``EarlyStopping``, ``ModelCheckpoint`` and ``ReduceLROnPlateau`` placed AFTER it in the
``callbacks`` list can monitor e.g. ``val_mAP``) and, with ``log_dir``, writes them to
TensorBoard. On epochs that are not evaluated the keys are absent, as Keras does for
``validation_freq``.
"""

from __future__ import annotations

import importlib.util
import logging

import keras

from embedding_net.evaluation import (
    pair_scores,
    reid_metrics,
    retrieval_metrics,
    verification_metrics,
)
from embedding_net.evaluation._inputs import check_distance, check_positive_int
from embedding_net.evaluation.encoding import encode_images, encode_with_flip
from embedding_net.evaluation.protocols import ReidProtocol, RetrievalProtocol, evaluate_protocol
from embedding_net.evaluation.scores import is_similarity

__all__ = ["ProtocolEvaluation", "RetrievalEvaluation", "VerificationEvaluation"]

logger = logging.getLogger(__name__)

# the protocols of embedding_net.evaluation.PROTOCOLS this callback computes from tuples
PROTOCOLS = (RetrievalProtocol.name, ReidProtocol.name)


class _EvaluationCallback(keras.callbacks.Callback):
    def __init__(self, every, prefix, batch_size, flip, log_dir, verbose, encoder=None):
        super().__init__()
        self.encoder = encoder
        self.every = check_positive_int(every, "every")
        self.prefix = str(prefix)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.flip = bool(flip)
        self.log_dir = None if log_dir is None else str(log_dir)
        self.verbose = int(verbose)
        self.history: list[tuple[int, dict]] = []
        self._writer = None
        if self.log_dir is not None and importlib.util.find_spec("tensorflow") is None:
            raise ImportError(
                "`log_dir` needs tensorflow (tf.summary) to write TensorBoard events."
            )

    def _encode(self, x):
        encoder = self.model if self.encoder is None else self.encoder
        if self.flip:
            return encode_with_flip(encoder, x, self.batch_size)
        return encode_images(encoder, x, self.batch_size)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        metrics = {self.prefix + name: float(value) for name, value in self._metrics().items()}
        if logs is not None:
            logs.update(metrics)
        self.history.append((epoch, metrics))
        if self.verbose:
            text = " - ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
            logger.info("epoch %d: %s", epoch + 1, text)
        if self.log_dir is not None:
            self._write_tensorboard(epoch, metrics)

    def _write_tensorboard(self, epoch, metrics):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        # the scalar-plugin format of tf.summary.scalar, written with the core op so that the
        # tensorboard package is not needed to write (only to view) the events
        metadata = tf.compat.v1.SummaryMetadata(
            plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        metadata.data_class = 1  # DATA_CLASS_SCALAR
        with self._writer.as_default():
            for name, value in metrics.items():
                tf.summary.write(
                    name, tf.constant(value, tf.float32), step=epoch, metadata=metadata
                )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _split(data, n_parts, name, what):
    if not isinstance(data, (tuple, list)) or len(data) != n_parts:
        raise ValueError(f"`{name}` must be a tuple {what}.")
    return data


class RetrievalEvaluation(_EvaluationCallback):
    """Retrieval (precision@1, R-precision, MAP@R, recall@k) or re-id (mAP, mINP, rank-k).

    Logged keys (with ``prefix="val_"``):

    * ``protocol="retrieval"``: ``val_precision_at_1``, ``val_r_precision``, ``val_map_at_r``,
      ``val_recall_at_{k}`` for k in ``ks``;
    * ``protocol="reid"``: ``val_mAP``, ``val_mINP``, ``val_rank{k}`` for k in ``ks``.

    Args:
        query_data: ``(images, labels)`` for retrieval, ``(images, ids, cameras)`` for re-id.
        gallery_data: same layout, or None: leave-one-out on the queries (retrieval only).
        every: evaluate every N epochs (after epochs N, 2N, ...).
        protocol: "retrieval" or "reid".
        prefix: prepended to every key.
        batch_size: images per forward pass.
        distance: distance name or ``Distance`` (``"L2"`` alias ``"euclidean"``,
            ``"squared-L2"``, ``"angular"``, ``"cosine"``, ``"dot"``); only its ranking matters.
        ks: the k of recall@k / rank-k.
        max_rank: CMC length for re-id (>= max(ks)).
        flip: flip test-time augmentation when encoding.
        log_dir: write the metrics to TensorBoard event files in this folder.
        verbose: log the metrics after each evaluation.
        encoder: model or function that embeds the images; default: the model being trained
            (``model.encode`` when it has it, else ``model.predict``).
    """

    def __init__(
        self,
        query_data,
        gallery_data=None,
        every: int = 1,
        protocol: str = "retrieval",
        prefix: str = "val_",
        batch_size: int = 64,
        distance: str = "euclidean",
        ks=(1, 5, 10),
        max_rank: int = 50,
        flip: bool = False,
        log_dir=None,
        verbose: int = 0,
        encoder=None,
    ):
        super().__init__(every, prefix, batch_size, flip, log_dir, verbose, encoder)
        if protocol not in PROTOCOLS:
            raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got {protocol!r}.")
        self.protocol = protocol
        self.distance = check_distance(distance)
        self.ks = tuple(check_positive_int(k, "ks") for k in ks)
        if protocol == "reid":
            self.query_data = _split(query_data, 3, "query_data", "(images, ids, cameras)")
            if gallery_data is None:
                raise ValueError("`gallery_data` is required for protocol='reid'.")
            self.gallery_data = _split(gallery_data, 3, "gallery_data", "(images, ids, cameras)")
            self.max_rank = max(check_positive_int(max_rank, "max_rank"), max(self.ks))
        else:
            self.query_data = _split(query_data, 2, "query_data", "(images, labels)")
            self.gallery_data = (
                None
                if gallery_data is None
                else _split(gallery_data, 2, "gallery_data", "(images, labels)")
            )
            self.max_rank = max_rank

    def _metrics(self) -> dict:
        q = self._encode(self.query_data[0])
        g = None if self.gallery_data is None else self._encode(self.gallery_data[0])
        if self.protocol == "reid":
            res = reid_metrics(
                q,
                g,
                self.query_data[1],
                self.gallery_data[1],
                self.query_data[2],
                self.gallery_data[2],
                distance=self.distance,
                max_rank=self.max_rank,
            )
            out = {"mAP": res["mAP"], "mINP": res["mINP"]}
            out.update({f"rank{k}": res["cmc"][k - 1] for k in self.ks})
            return out
        res = retrieval_metrics(
            q,
            self.query_data[1],
            g,
            None if self.gallery_data is None else self.gallery_data[1],
            ks=self.ks,
            distance=self.distance,
        )
        res.pop("num_valid_queries")
        return res


class VerificationEvaluation(_EvaluationCallback):
    """Pair verification accuracy (LFW k-fold protocol), AUC, EER, TAR@FAR of a pair set.

    Logged keys (with ``prefix="val_"``): ``val_verification_accuracy``,
    ``val_verification_accuracy_std``, ``val_verification_threshold``,
    ``val_verification_auc``, ``val_verification_eer``, ``val_verification_f1`` and
    ``val_verification_tar_at_far_{far:g}`` (e.g. ``..._tar_at_far_0.001``).

    Args:
        pairs_data: ``(images_a, images_b, is_same)`` in pairs-file order.
        every: evaluate every N epochs.
        prefix: prepended to every key.
        batch_size: images per forward pass.
        distance: pair score, a distance name or ``Distance``: ``"cosine"`` (cosine
            similarity, higher = same), ``"L2"`` / ``"euclidean"`` (lower = same), ...; the
            logged threshold is in its units (the package's threshold convention).
        n_folds: LFW folds (contiguous blocks in pair order).
        folds: optional int array (n_pairs,) of fold ids replacing ``n_folds``; for pairs
            listed all-matched-first use ``embedding_net.evaluation.lfw_block_folds(is_same)``
            so that no fold holds a single pair class.
        flip: flip test-time augmentation when encoding.
        log_dir: write the metrics to TensorBoard event files in this folder.
        verbose: log the metrics after each evaluation.
        encoder: model or function that embeds the images; default: the model being trained.
    """

    def __init__(
        self,
        pairs_data,
        every: int = 1,
        prefix: str = "val_",
        batch_size: int = 64,
        distance: str = "cosine",
        n_folds: int = 10,
        folds=None,
        flip: bool = False,
        log_dir=None,
        verbose: int = 0,
        encoder=None,
    ):
        super().__init__(every, prefix, batch_size, flip, log_dir, verbose, encoder)
        self.pairs_data = _split(pairs_data, 3, "pairs_data", "(images_a, images_b, is_same)")
        self.distance = check_distance(distance)
        self.n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
        self.folds = folds

    def _metrics(self) -> dict:
        a = self._encode(self.pairs_data[0])
        b = self._encode(self.pairs_data[1])
        scores = pair_scores(a, b, self.distance)
        res = verification_metrics(
            scores,
            self.pairs_data[2],
            n_folds=self.n_folds,
            higher_is_similar=is_similarity(self.distance),
            folds=self.folds,
        )
        out = {
            f"verification_{key}": res[key]
            for key in ("accuracy", "accuracy_std", "threshold", "auc", "eer", "f1")
        }
        for far, tar in res["tar_at_far"].items():
            out[f"verification_tar_at_far_{far:g}"] = tar
        return out


class ProtocolEvaluation(keras.callbacks.Callback):
    """Evaluate a network on a held-out :class:`~embedding_net.evaluation.ValidationSet` with
    its protocol (:data:`embedding_net.evaluation.PROTOCOLS`) every ``every`` epochs, after the
    last one and when training is being stopped (e.g. by a time budget).

    The metrics go into ``logs`` as ``val_<name>`` (so ``ModelCheckpoint``, ``EarlyStopping``,
    ``ReduceLROnPlateau`` and ``TensorBoard`` placed after it see them) and into
    :attr:`evaluated`.

    Args:
        network: the embedding network to encode with (e.g. ``model.network`` of a training
            model), or a callable on image batches.
        validation: the :class:`~embedding_net.evaluation.ValidationSet`.
        every: evaluate after epochs ``every``, ``2 * every``, ...
        epochs: the run's last epoch number (always evaluated).
        batch_size: images per forward pass.
        flip: flip test-time augmentation.

    Attributes:
        evaluated: list of ``(epoch number, metrics)``, epochs counted from 1.
    """

    def __init__(
        self, network, validation, every: int = 1, epochs: int = 1, batch_size=128, flip=False
    ):
        super().__init__()
        self.flip = bool(flip)
        self.network = network
        self.validation = validation
        self.every = int(every)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.evaluated: list[tuple[int, dict]] = []

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.epochs or self.model.stop_training
        if (epoch + 1) % self.every and not last:
            return
        metrics = evaluate_protocol(
            self.network, self.validation, batch_size=self.batch_size, flip=self.flip
        )
        self.evaluated.append((epoch + 1, metrics))
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in metrics.items()})
