"""Evaluation protocols on held-out images: re-id, verification, classification.

A :class:`ValidationSet` holds uint8 images in memory plus what the protocol needs (query and
gallery rows, pairs); :func:`evaluate_protocol` encodes them once and returns flat metrics:

* ``reid``: one query per identity and camera (seeded), the other held-out images are the
  gallery; Market-1501 rules (:func:`embedding_net.evaluation.reid_metrics`: same identity AND
  same camera removed). Keys ``rank1``, ``rank5``, ``mAP``, ``mINP``. Images without a camera
  get distinct query/gallery cameras, so only the query itself is excluded.
* ``verification``: cosine similarity of pairs, 10-fold LFW protocol
  (:func:`embedding_net.evaluation.verification_metrics`). Keys ``pair_accuracy``,
  ``pair_accuracy_std``, ``threshold`` (cosine similarity), ``auc``, ``eer``, ``f1``.
* ``classification``: kNN top-1 / top-5 of held-out images against the training images
  (classes shared: ``split: given / tracklet``), or leave-one-out among the held-out images
  when their identities were not trained on. Keys ``knn_top1``, ``knn_top5``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from embedding_net.config.records import split_seed

logger = logging.getLogger(__name__)

MAIN_METRIC = {"reid": "rank1", "verification": "pair_accuracy", "classification": "knn_top1"}


@dataclass
class ValidationSet:
    """Images and index arrays of one evaluation protocol.

    Attributes:
        protocol: ``reid``, ``verification`` or ``classification``.
        images: uint8 array ``(n, h, w, 3)``.
        labels: array ``(n,)`` of identities.
        cameras: int array ``(n,)`` (reid).
        query: int array of query rows (reid, classification).
        gallery: int array of gallery rows (reid, classification); empty for leave-one-out.
        pairs: int array ``(n_pairs, 2)`` of rows (verification).
        is_same: bool array ``(n_pairs,)`` (verification).
        paths: list of the image paths, row-aligned with ``images``.
    """

    protocol: str
    images: np.ndarray
    labels: np.ndarray
    cameras: np.ndarray | None = None
    query: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gallery: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    is_same: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    paths: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def load_record_images(records: list, image_size) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(n_kept, h, w, 3)`` of ``ImageRecord`` s and the kept record indices.

    Files are read with :func:`embedding_net.data.load_images` (unreadable ones skipped with a
    warning); records of a TFRecord folder (``path = "<dir>#<split>/<i>"``) are read from the
    shards.
    """
    from embedding_net.data import load_images

    if not records:
        return np.zeros((0, *image_size, 3), np.uint8), np.zeros(0, np.int64)
    if "#" in records[0].path and "position" in records[0].metadata:
        return _tfrecord_images(records, image_size), np.arange(len(records))
    loaded = load_images([r.path for r in records], image_size=tuple(image_size))
    return loaded.images, loaded.kept


def _tfrecord_images(records, image_size) -> np.ndarray:
    import tensorflow as tf

    from embedding_net.data.images import decode_resize
    from embedding_net.data.tfrecords import TFRecordIndex, parse_example

    out = np.zeros((len(records), *image_size, 3), np.uint8)
    by_split = defaultdict(list)
    for row, r in enumerate(records):
        by_split[r.path.split("#")[0], r.metadata["split"]].append((row, r.metadata["position"]))
    for (root, split), items in by_split.items():
        index = TFRecordIndex(root, split)
        rows = np.asarray([i for i, _ in items])
        positions = np.asarray([p for _, p in items], np.int64)
        for start in range(0, len(rows), 256):
            serialized = index.fetch(tf.constant(positions[start : start + 256]))
            images = tf.map_fn(
                lambda s: decode_resize(parse_example(s)["image/encoded"], tuple(image_size)),
                serialized,
                fn_output_signature=tf.uint8,
            )
            out[rows[start : start + 256]] = images.numpy()
    return out


def _as_labels(records) -> np.ndarray:
    labels = [r.label for r in records]
    if all(isinstance(x, (int, np.integer)) for x in labels):
        return np.asarray(labels, dtype=np.int64)
    return np.asarray([str(x) for x in labels])


def reid_set(records: list, image_size, seed: int = 0) -> ValidationSet:
    """Re-id query/gallery from held-out images: one query per (identity, camera)."""
    images, kept = load_record_images(records, image_size)
    records = [records[i] for i in kept]
    labels = _as_labels(records)
    has_cameras = all("camera" in r.metadata for r in records)
    rng = np.random.default_rng(seed)
    groups = defaultdict(list)
    for i, r in enumerate(records):
        groups[r.label, r.metadata.get("camera", 0)].append(i)
    query = sorted(int(rng.choice(rows)) for _, rows in sorted(groups.items(), key=str))
    is_query = np.zeros(len(records), bool)
    is_query[query] = True
    if has_cameras:
        cameras = np.asarray([int(r.metadata["camera"]) for r in records], np.int64)
    else:  # no camera: queries camera 0, gallery camera 1 (only the query itself is excluded)
        cameras = np.where(is_query, 0, 1).astype(np.int64)
    return ValidationSet(
        "reid",
        images,
        labels,
        cameras=cameras,
        query=np.flatnonzero(is_query),
        gallery=np.flatnonzero(~is_query),
        paths=[r.path for r in records],
    )


def classification_set(
    query_records: list,
    reference_records: list | None,
    image_size,
    max_reference: int | None = None,
    seed: int = 0,
) -> ValidationSet:
    """kNN classification: held-out queries against reference images (or leave-one-out)."""
    rng = np.random.default_rng(seed)
    reference_records = list(reference_records or [])
    if max_reference is not None and len(reference_records) > max_reference:
        keep = sorted(rng.choice(len(reference_records), max_reference, replace=False))
        reference_records = [reference_records[i] for i in keep]
    records = list(query_records) + reference_records
    images, kept = load_record_images(records, image_size)
    n_query = len(query_records)
    records = [records[i] for i in kept]
    return ValidationSet(
        "classification",
        images,
        _as_labels(records),
        query=np.flatnonzero(kept < n_query),
        gallery=np.flatnonzero(kept >= n_query),
        paths=[r.path for r in records],
    )


def verification_set(
    records: list, image_size, num_pairs: int = 600, pairs_file=None, image_root=None, seed: int = 0
) -> ValidationSet:
    """Verification pairs: from an LFW pairs file, or drawn from ``records`` (half matched).

    Drawn pairs follow pairsDevTrain: a matched pair is two different images of one person
    (persons with >= 2 images), a mismatched pair two images of two different persons; pairs
    are distinct and alternate matched / mismatched, so that every contiguous fold of the
    10-fold protocol is balanced (as in LFW's pairs.txt).
    """
    rng = np.random.default_rng(seed)
    if pairs_file is not None:
        from embedding_net.data import read_lfw_pairs

        lfw = read_lfw_pairs(pairs_file, image_root)
        unique = sorted(set(lfw.paths1) | set(lfw.paths2))
        from embedding_net.data.adapters import ImageRecord

        records = [ImageRecord(p, p.rsplit("/", 2)[-2], {}) for p in unique]
        position = {p: i for i, p in enumerate(unique)}
        pairs = np.asarray(
            [(position[a], position[b]) for a, b in zip(lfw.paths1, lfw.paths2)], np.int64
        )
        is_same = np.asarray(lfw.is_same, bool)
    else:
        pairs, is_same = _draw_pairs(records, num_pairs, rng)
    images, kept = load_record_images(records, image_size)
    remap = np.full(len(records), -1, np.int64)
    remap[kept] = np.arange(len(kept))
    pairs = remap[pairs]
    ok = (pairs >= 0).all(axis=1)
    if not ok.all():
        logger.warning("%d pair(s) dropped: unreadable image", int((~ok).sum()))
    records = [records[i] for i in kept]
    return ValidationSet(
        "verification",
        images,
        _as_labels(records),
        pairs=pairs[ok],
        is_same=is_same[ok],
        paths=[r.path for r in records],
    )


def _draw_pairs(records, num_pairs, rng):
    by_label = defaultdict(list)
    for i, r in enumerate(records):
        by_label[r.label].append(i)
    labels = sorted(by_label, key=lambda x: (str(type(x)), x))
    multi = [lab for lab in labels if len(by_label[lab]) >= 2]
    if not multi or len(labels) < 2:
        raise ValueError(
            "verification pairs need a held-out person with >= 2 images and >= 2 persons; "
            f"got {len(labels)} persons, {len(multi)} with >= 2 images"
        )
    n_half = num_pairs // 2
    matched, seen = [], set()
    for _ in range(n_half * 20):
        if len(matched) == n_half:
            break
        lab = multi[rng.integers(len(multi))]
        a, b = sorted(rng.choice(by_label[lab], 2, replace=False).tolist())
        if (a, b) not in seen:
            seen.add((a, b))
            matched.append((a, b))
    mismatched = []
    for _ in range(n_half * 20):
        if len(mismatched) == n_half:
            break
        la, lb = rng.choice(len(labels), 2, replace=False)
        a = int(rng.choice(by_label[labels[la]]))
        b = int(rng.choice(by_label[labels[lb]]))
        key = (min(a, b), max(a, b))
        if key not in seen:
            seen.add(key)
            mismatched.append((a, b))
    if len(matched) < n_half or len(mismatched) < n_half:
        logger.warning(
            "verification: %d matched and %d mismatched distinct pairs drawn (%d asked each): "
            "the held-out people have too few images",
            len(matched),
            len(mismatched),
            n_half,
        )
    # alternate matched / mismatched so that every contiguous fold of the k-fold protocol
    # holds both kinds in equal numbers (as each fold of LFW's pairs.txt does)
    order = []
    for i in range(max(len(matched), len(mismatched))):
        if i < len(matched):
            order.append((matched[i], True))
        if i < len(mismatched):
            order.append((mismatched[i], False))
    pairs = np.asarray([p for p, _ in order], np.int64)
    is_same = np.asarray([same for _, same in order], bool)
    return pairs, is_same


def _reranked(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """k-reciprocal re-ranked euclidean distances of query / gallery embeddings."""
    from embedding_net.evaluation import k_reciprocal_rerank
    from embedding_net.evaluation._inputs import DistanceChunks

    def dist(a, b):
        return DistanceChunks(a, b).block(0, len(a))

    q = np.asarray(query, np.float64)
    g = np.asarray(gallery, np.float64)
    return k_reciprocal_rerank(dist(q, g), dist(q, q), dist(g, g))


def evaluate_protocol(
    network,
    validation: ValidationSet,
    batch_size: int = 128,
    flip: bool = False,
    rerank: bool = False,
) -> dict:
    """Encode the validation images with ``network`` and compute the protocol's metrics.

    Args:
        network: a model with ``encode`` / ``predict`` (e.g. ``BaseNetwork``) or a callable.
        validation: a :class:`ValidationSet`.
        batch_size: images per forward pass.
        flip: flip test-time augmentation (mean of the image's and its mirror's embeddings).
        rerank: ``reid`` only: k-reciprocal re-ranking (Zhong et al. 2017, k1=20, k2=6,
            lambda=0.3) of the euclidean distances of the embeddings.

    Returns:
        flat dict of floats (keys listed in the module docstring).
    """
    from embedding_net.evaluation import (
        encode_images,
        encode_with_flip,
        knn_accuracy,
        pair_scores,
        reid_metrics,
        reid_metrics_from_distances,
        verification_metrics,
    )

    if rerank and validation.protocol != "reid":
        raise ValueError(
            f"rerank: re-ranking applies to the reid protocol, not {validation.protocol!r}"
        )
    if len(validation) == 0:
        raise ValueError("validation: no readable held-out image")
    if flip:
        emb = encode_with_flip(network, validation.images, batch_size)
    else:
        emb = encode_images(network, validation.images, batch_size)
    protocol = validation.protocol
    if protocol == "reid":
        q, g = validation.query, validation.gallery
        args = (
            validation.labels[q],
            validation.labels[g],
            validation.cameras[q],
            validation.cameras[g],
        )
        if rerank:
            res = reid_metrics_from_distances(
                _reranked(emb[q], emb[g]), *args, max_rank=min(50, len(g))
            )
        else:
            res = reid_metrics(emb[q], emb[g], *args, max_rank=min(50, len(g)))
        cmc = res["cmc"]
        return {
            "rank1": float(cmc[0]),
            "rank5": float(cmc[min(4, len(cmc) - 1)]),
            "mAP": float(res["mAP"]),
            "mINP": float(res["mINP"]),
            "num_queries": float(res["num_valid_queries"]),
        }
    if protocol == "verification":
        p = validation.pairs
        scores = pair_scores(emb[p[:, 0]], emb[p[:, 1]], "cosine")
        n_folds = min(10, len(p) // 2)
        if n_folds < 2:
            raise ValueError(f"validation: {len(p)} pair(s) are too few for the fold protocol")
        res = verification_metrics(scores, validation.is_same, n_folds=n_folds)
        return {
            "pair_accuracy": res["accuracy"],
            "pair_accuracy_std": res["accuracy_std"],
            "threshold": res["threshold"],
            "auc": res["auc"],
            "eer": res["eer"],
            "f1": res["f1"],
            "num_pairs": float(len(p)),
        }
    if protocol == "classification":
        q, g = validation.query, validation.gallery
        if len(g):
            res = knn_accuracy(emb[q], validation.labels[q], emb[g], validation.labels[g])
        else:
            res = knn_accuracy(emb[q], validation.labels[q])
        return {
            "knn_top1": res["top1"],
            "knn_top5": res["top5"],
            "num_queries": float(len(q)),
        }
    raise ValueError(f"protocol must be one of {sorted(MAIN_METRIC)}, got {protocol!r}")


def build_validation_set(config, split) -> ValidationSet | None:
    """The :class:`ValidationSet` of a config's ``validation.protocol`` (None for ``none``).

    Args:
        config: :class:`~embedding_net.config.TrainConfig`.
        split: :class:`~embedding_net.config.records.SplitRecords`.
    """
    protocol = config.validation.protocol
    seed = split_seed(config)
    size = tuple(config.data.image_size)
    if protocol == "none":
        return None
    if protocol != "verification" or config.data.pairs_file is None:
        if not split.val:
            raise ValueError(
                f"{config.source or 'config'}: validation.protocol {protocol!r} found no held-out "
                "image (data.split / data.val_fraction)"
            )
    if protocol == "reid":
        return reid_set(split.val, size, seed=seed)
    if protocol == "verification":
        return verification_set(
            split.val,
            size,
            num_pairs=config.data.num_val_pairs,
            pairs_file=config.data.pairs_file,
            image_root=config.data.root,
            seed=seed,
        )
    shared = {r.label for r in split.train} & {r.label for r in split.val}
    reference = split.train if shared else None
    return classification_set(
        split.val, reference, size, max_reference=config.validation.max_gallery, seed=seed
    )
