"""Held-out evaluation protocols as objects: re-id, verification, classification, retrieval.

One registry, :data:`PROTOCOLS`, serves training (``validation.protocol`` of a config), the
callbacks (:class:`~embedding_net.callbacks.ProtocolEvaluation`), ``embedding-net evaluate``,
``compare`` (the saved verification threshold) and ``serve``. A protocol builds its
:class:`~embedding_net.evaluation.validation_sets.ValidationSet` (from a config's held-out split
or from records) and turns embeddings into flat metrics:

* ``reid``: one query per identity and camera (seeded), the other held-out images are the
  gallery; Market-1501 rules (:func:`~embedding_net.evaluation.reid_metrics`: same identity AND
  same camera removed). Keys ``rank1``, ``rank5``, ``mAP``, ``mINP``, ``num_queries``. Images
  without a camera get distinct query/gallery cameras, so only the query itself is excluded.
* ``verification``: cosine similarity of pairs, 10-fold LFW protocol
  (:func:`~embedding_net.evaluation.verification_metrics`). Keys ``pair_accuracy``,
  ``pair_accuracy_std``, ``threshold`` (a cosine similarity: same when ``score >= threshold``,
  the package's threshold convention), ``auc``, ``eer``, ``f1``, ``num_pairs``.
* ``classification``: kNN top-1 / top-5 of held-out images against the training images
  (classes shared), or leave-one-out among the held-out images. Keys ``knn_top1``,
  ``knn_top5``, ``num_queries``.
* ``retrieval``: the same query / reference rows scored by ranking: ``precision_at_1``,
  ``r_precision``, ``map_at_r``, ``recall_at_{1,5,10}``, ``num_queries``.

Adding a protocol: subclass :class:`Protocol` and ``PROTOCOLS.register("name", MyProtocol)``.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation.validation_sets import (
    ValidationSet,
    classification_set,
    reid_set,
    verification_set,
)
from embedding_net.registry import Registry

__all__ = [
    "MAIN_METRIC",
    "PROTOCOLS",
    "ClassificationProtocol",
    "Protocol",
    "ReidProtocol",
    "RetrievalProtocol",
    "VerificationProtocol",
    "build_validation_set",
    "evaluate_protocol",
    "get_protocol",
    "run_metrics",
]


class Protocol:
    """One held-out evaluation protocol.

    Attributes:
        name: registry name (``ValidationSet.protocol``).
        main_metric: the key a run monitors by default (``val_<main_metric>``, larger = better).
        distance: the distance name the protocol scores embeddings with.
    """

    name = ""
    main_metric = ""
    distance = "L2"

    def __init__(self, distance=None):
        """Args: distance: override the protocol's distance name or ``Distance`` object."""
        if distance is not None:
            from embedding_net.evaluation._inputs import check_distance

            self.distance = check_distance(distance)

    def from_records(self, records, image_size, *, seed=0, reference=None, **options):
        """The :class:`ValidationSet` of ``records`` (every record is evaluation data)."""
        return classification_set(records, reference, image_size, seed=seed, protocol=self.name)

    def from_split(self, config, split, seed: int) -> ValidationSet:
        """The :class:`ValidationSet` of a config's held-out split (``split.val``)."""
        shared = {r.label for r in split.train} & {r.label for r in split.val}
        reference = split.train if shared else None
        return classification_set(
            split.val,
            reference,
            tuple(config.data.image_size),
            max_reference=config.validation.max_gallery,
            seed=seed,
            protocol=self.name,
        )

    def metrics(self, embeddings: np.ndarray, validation: ValidationSet, **options) -> dict:
        """Flat float metrics of the embeddings ``(n, dim)`` of ``validation.images``."""
        raise TypeError(f"{type(self).__name__} does not define metrics()")

    def encode(self, network, validation, batch_size=128, flip=False) -> np.ndarray:
        """The embeddings ``(n, dim)`` of ``validation.images`` (flip: the normalised mean of
        each image's and its mirror's)."""
        from embedding_net.evaluation.encoding import encode_images, encode_with_flip

        _require_images(validation)
        if flip:
            return encode_with_flip(network, validation.images, batch_size)
        return encode_images(network, validation.images, batch_size)

    def evaluate(self, network, validation, batch_size=128, flip=False, **options) -> dict:
        """Encode ``validation.images`` with ``network`` once and return :meth:`metrics`."""
        return self.metrics(
            self.encode(network, validation, batch_size, flip), validation, **options
        )


def _require_images(validation) -> None:
    if len(validation) == 0:
        raise ValueError("validation: no readable held-out image")


def _check_rerank(validation, key: str) -> None:
    """Re-ranking is defined for query / gallery sets only; ``key`` names the setting."""
    if get_protocol(validation.protocol).name != "reid":
        raise ValueError(
            f"{key}: re-ranking applies to the reid protocol, not {validation.protocol!r}"
        )


def _reranked(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """k-reciprocal re-ranked L2 distances of query / gallery embeddings."""
    from embedding_net.evaluation._inputs import DistanceChunks
    from embedding_net.evaluation.reranking import k_reciprocal_rerank

    def dist(a, b):
        return DistanceChunks(a, b).block(0, len(a))

    q = np.asarray(query, np.float64)
    g = np.asarray(gallery, np.float64)
    return k_reciprocal_rerank(dist(q, g), dist(q, q), dist(g, g))


class ReidProtocol(Protocol):
    """Re-identification: CMC rank-1 / rank-5, mAP, mINP (optionally re-ranked)."""

    name = "reid"
    main_metric = "rank1"

    def from_records(self, records, image_size, *, seed=0, **options):
        return reid_set(records, image_size, seed=seed)

    def from_split(self, config, split, seed):
        return reid_set(split.val, tuple(config.data.image_size), seed=seed)

    def metrics(self, embeddings, validation, rerank: bool = False, **options):
        from embedding_net.evaluation.reid import reid_metrics, reid_metrics_from_distances

        q, g = validation.query, validation.gallery
        args = (
            validation.labels[q],
            validation.labels[g],
            validation.cameras[q],
            validation.cameras[g],
        )
        max_rank = min(50, len(g))
        if rerank:
            distances = _reranked(embeddings[q], embeddings[g])
            res = reid_metrics_from_distances(distances, *args, max_rank=max_rank)
        else:
            res = reid_metrics(
                embeddings[q], embeddings[g], *args, distance=self.distance, max_rank=max_rank
            )
        cmc = res["cmc"]
        return {
            "rank1": float(cmc[0]),
            "rank5": float(cmc[min(4, len(cmc) - 1)]),
            "mAP": float(res["mAP"]),
            "mINP": float(res["mINP"]),
            "num_queries": float(res["num_valid_queries"]),
        }


class VerificationProtocol(Protocol):
    """Pair verification, LFW 10-fold protocol on cosine similarities."""

    name = "verification"
    main_metric = "pair_accuracy"
    distance = "cosine"

    def from_records(
        self, records, image_size, *, seed=0, num_pairs=600, pairs_file=None, image_root=None, **o
    ):
        return verification_set(
            records,
            image_size,
            num_pairs=num_pairs,
            pairs_file=pairs_file,
            image_root=image_root,
            seed=seed,
        )

    def from_split(self, config, split, seed):
        return self.from_records(
            split.val,
            tuple(config.data.image_size),
            seed=seed,
            num_pairs=config.data.num_val_pairs,
            pairs_file=config.data.pairs_file,
            image_root=config.data.root,
        )

    def metrics(self, embeddings, validation, **options):
        from embedding_net.evaluation.scores import is_similarity, pair_scores
        from embedding_net.evaluation.verification import verification_metrics

        p = validation.pairs
        scores = pair_scores(embeddings[p[:, 0]], embeddings[p[:, 1]], self.distance)
        n_folds = min(10, len(p) // 2)
        if n_folds < 2:
            raise ValueError(f"validation: {len(p)} pair(s) are too few for the fold protocol")
        res = verification_metrics(
            scores,
            validation.is_same,
            n_folds=n_folds,
            higher_is_similar=is_similarity(self.distance),
        )
        return {
            "pair_accuracy": res["accuracy"],
            "pair_accuracy_std": res["accuracy_std"],
            "threshold": res["threshold"],
            "auc": res["auc"],
            "eer": res["eer"],
            "f1": res["f1"],
            "num_pairs": float(len(p)),
        }


class ClassificationProtocol(Protocol):
    """kNN classification top-1 / top-5 of queries against references (or leave-one-out)."""

    name = "classification"
    main_metric = "knn_top1"

    def metrics(self, embeddings, validation, **options):
        from embedding_net.evaluation.retrieval import knn_accuracy

        q, g = validation.query, validation.gallery
        labels = validation.labels
        if len(g):
            res = knn_accuracy(
                embeddings[q], labels[q], embeddings[g], labels[g], distance=self.distance
            )
        else:
            res = knn_accuracy(embeddings[q], labels[q], distance=self.distance)
        return {"knn_top1": res["top1"], "knn_top5": res["top5"], "num_queries": float(len(q))}


class RetrievalProtocol(Protocol):
    """Retrieval ranking metrics (precision@1, R-precision, MAP@R, recall@k)."""

    name = "retrieval"
    main_metric = "map_at_r"
    ks = (1, 5, 10)

    def metrics(self, embeddings, validation, **options):
        from embedding_net.evaluation.retrieval import retrieval_metrics

        q, g = validation.query, validation.gallery
        labels = validation.labels
        gallery = (embeddings[g], labels[g]) if len(g) else (None, None)
        res = retrieval_metrics(
            embeddings[q], labels[q], *gallery, ks=self.ks, distance=self.distance
        )
        res["num_queries"] = float(res.pop("num_valid_queries"))
        return {k: float(v) for k, v in res.items()}


PROTOCOLS = Registry("protocol")
PROTOCOLS.register("reid", ReidProtocol)
PROTOCOLS.register("verification", VerificationProtocol)
PROTOCOLS.register("classification", ClassificationProtocol)
PROTOCOLS.register("retrieval", RetrievalProtocol)

MAIN_METRIC = {name: PROTOCOLS.lookup(name).main_metric for name in PROTOCOLS.names()}


def get_protocol(protocol, **kwargs) -> Protocol:
    """A :class:`Protocol` from its name (case-insensitive) or itself.

    Args:
        protocol: a registered name or a :class:`Protocol`.
        **kwargs: passed to the protocol's constructor (e.g. ``distance="L2"``).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if isinstance(protocol, Protocol):
        return protocol
    if not isinstance(protocol, str):
        raise ValueError(f"protocol must be a name or a Protocol, got {protocol!r}")
    return PROTOCOLS.create(protocol, **kwargs)


def evaluate_protocol(
    network,
    validation: ValidationSet,
    batch_size: int = 128,
    flip: bool = False,
    rerank: bool = False,
    embeddings: np.ndarray | None = None,
) -> dict:
    """Encode the validation images with ``network`` and compute its protocol's metrics.

    Args:
        network: a model with ``encode`` / ``predict`` (e.g. ``BaseNetwork``) or a callable.
        validation: a :class:`ValidationSet`.
        batch_size: images per forward pass.
        flip: flip test-time augmentation (mean of the image's and its mirror's embeddings).
        rerank: ``reid`` only: k-reciprocal re-ranking (Zhong et al. 2017, k1=20, k2=6,
            lambda=0.3) of the L2 distances of the embeddings.
        embeddings: the embeddings of ``validation.images`` already computed (e.g. by
            :meth:`Protocol.encode`, to score several query / pair draws of the same images
            or plain and re-ranked metrics from one encoding); ``network``, ``batch_size``
            and ``flip`` are then not used.

    Returns:
        flat dict of floats (keys listed in the module docstring).
    """
    if validation.protocol not in PROTOCOLS:
        raise ValueError(
            f"protocol must be one of {PROTOCOLS.names()}, got {validation.protocol!r}"
        )
    protocol = get_protocol(validation.protocol)
    if rerank:
        _check_rerank(validation, "rerank")
    options = {"rerank": True} if rerank else {}
    if embeddings is None:
        return protocol.evaluate(network, validation, batch_size=batch_size, flip=flip, **options)
    _require_images(validation)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) != len(validation):
        raise ValueError(
            f"embeddings: expected one row per validation image, shape ({len(validation)}, dim), "
            f"got {embeddings.shape}"
        )
    return protocol.metrics(embeddings, validation, **options)


def run_metrics(network, validation: ValidationSet, settings) -> dict:
    """The held-out metrics a training run reports (``metrics.json``), by its ``validation``
    section: plain metrics, plus the k-reciprocal re-ranked ones as ``reranked_<key>`` when
    ``settings.rerank`` (the images are encoded once for both).

    Args:
        network: the embedding network.
        validation: a :class:`ValidationSet`.
        settings: a :class:`~embedding_net.config.schema.ValidationConfig` (``batch_size``,
            ``flip``, ``rerank``).
    """
    protocol = get_protocol(validation.protocol)
    if settings.rerank:
        _check_rerank(validation, "validation.rerank")
    emb = protocol.encode(network, validation, settings.batch_size, settings.flip)
    metrics = protocol.metrics(emb, validation)
    if settings.rerank:
        reranked = protocol.metrics(emb, validation, rerank=True)
        metrics.update({f"reranked_{k}": v for k, v in reranked.items() if k != "num_queries"})
    return metrics


def build_validation_set(config, split, seed: int) -> ValidationSet | None:
    """The :class:`ValidationSet` of a config's ``validation.protocol`` (None for ``none``
    and in final-training mode, ``data.val_fraction: 0``).

    Args:
        config: :class:`~embedding_net.config.TrainConfig`.
        split: :class:`~embedding_net.config.records.SplitRecords`.
        seed: the query / pair choice seed (``embedding_net.config.records.split_seed``).
    """
    name = config.validation.protocol
    if name == "none" or config.data.val_fraction == 0:  # final-training mode: no hold-out
        return None
    protocol = get_protocol(name)
    if protocol.name != "verification" or config.data.pairs_file is None:
        if not split.val:
            raise ValueError(
                f"{config.source or 'config'}: validation.protocol {name!r} found no held-out "
                "image (data.split / data.val_fraction)"
            )
    return protocol.from_split(config, split, seed)
