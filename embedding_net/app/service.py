"""The search service behind the web app: one model + one index, loaded once, no web framework.

:class:`SearchService` holds a loaded embedding network and an
:class:`~embedding_net.evaluation.EmbeddingIndex` and answers the app's operations (search by
image, compare two images, thumbnails of indexed items, the t-SNE map) on raw uploaded bytes.
Every rejected input raises :class:`ImageRejected` with the HTTP status the web layer answers
with, so the rules live here and are tested without a server.

Pair scores, match decisions and the estimated threshold come from
:mod:`embedding_net.evaluation` (one distance vocabulary, one threshold convention: a threshold
is in the units of the index's distance; same = ``score <= t`` for a distance, ``score >= t``
for a similarity). Upload decoding and thumbnails live in :mod:`embedding_net.app.images`,
loading in :mod:`embedding_net.app.loading`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from embedding_net.app.images import ImageRejected, decode_upload, thumbnail_png, tsne_map_points
from embedding_net.app.loading import (
    _check_positive,
    _jsonable,
    _lookup_name,
    _network_embedding_dim,
    _network_image_shape,
    check_index_fits,
    load_index,
    load_network,
    read_class_names,
)
from embedding_net.app.paths import public_name, relative_to_root, resolve_image
from embedding_net.evaluation.scores import is_match, is_similarity, pair_scores
from embedding_net.evaluation.thresholds import balanced_threshold, estimate_threshold

__all__ = [
    "ImageRejected",
    "SearchService",
    "balanced_threshold",
    "estimate_threshold",
    "load_index",
    "load_network",
    "read_class_names",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
MAX_K = 100


class SearchService:
    """An embedding network and an index, answering search / compare / thumbnail / map requests.

    Args:
        model: a Keras embedding network (``BaseNetwork`` or any model mapping uint8 images
            ``(n, h, w, c)`` to embeddings ``(n, dim)``).
        index: an :class:`~embedding_net.evaluation.EmbeddingIndex` holding ``dim``-sized
            embeddings made by the same network.
        threshold: match threshold in the units of the index's distance (same when
            ``score <= threshold`` for a distance such as ``"L2"`` or ``"angular"``, ``score >=
            threshold`` for a similarity such as ``"cosine"``); None estimates it from the
            index's labels (:func:`estimate_threshold`), and stays None without labels.
        top_k: default number of results.
        max_upload_bytes: larger uploads are refused with 413.
        max_pixels: images with more pixels (width x height) are refused with 422 before they are
            decoded (decompression bombs).
        image_root: the folder holding the indexed images. Clients see paths relative to it
            (``None`` for a file outside it) and thumbnails are read only from files under it.
            None (default): no path is shown, and thumbnails are read from the files the index
            lists (as stored, then relative to ``index_dir``). See :mod:`embedding_net.app.paths`.
        index_dir: folder of the index file (second place relative paths are looked up when
            there is no ``image_root``).
        thumbnail_size: longest side of served thumbnails in pixels.
        max_map_points: the t-SNE map shows at most this many items (a seeded random subset).
        map_max_iter: t-SNE iterations of the map (scikit-learn needs at least 250).
        seed: seed of the threshold estimate subset and of the map (subset and t-SNE).
        model_name, index_name: shown on the page and in error messages (default: file names
            when built with :meth:`from_files`).
        class_names: optional ``{label: display name}`` (see :func:`read_class_names`); shown
            next to each label.
        warm_up: run the network once at start-up (see :meth:`warm_up`).

    Raises:
        ValueError: the index is empty, or its embedding size differs from the network's.
    """

    def __init__(
        self,
        model,
        index,
        threshold: float | None = None,
        top_k: int = 5,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        image_root: str | os.PathLike | None = None,
        index_dir: str | os.PathLike | None = None,
        thumbnail_size: int = 96,
        max_map_points: int = 2000,
        map_max_iter: int = 1000,
        seed: int = 0,
        model_name: str | None = None,
        index_name: str | None = None,
        class_names: dict | None = None,
        warm_up: bool = True,
    ):
        self.model = model
        self.index = index
        self.model_name = model_name or getattr(model, "name", "model")
        self.index_name = index_name or "index"
        self.image_shape = _network_image_shape(model)
        self.embedding_dim = _network_embedding_dim(model)
        check_index_fits(index, self.index_name, self.model_name, self.embedding_dim)
        _check_positive(
            top_k=top_k,
            max_upload_bytes=max_upload_bytes,
            max_pixels=max_pixels,
            thumbnail_size=thumbnail_size,
            max_map_points=max_map_points,
        )
        if threshold is not None and not math.isfinite(float(threshold)):
            raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
        self.distance = index.distance
        self.distance_name = (
            self.distance if isinstance(self.distance, str) else type(self.distance).__name__
        )
        self.higher_is_closer = is_similarity(self.distance)
        self.top_k = int(top_k)
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_pixels = int(max_pixels)
        self.image_root = Path(image_root) if image_root is not None else None
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.thumbnail_size = int(thumbnail_size)
        self.max_map_points = int(max_map_points)
        if int(map_max_iter) != map_max_iter or map_max_iter < 250:
            raise ValueError(f"map_max_iter must be an integer >= 250, got {map_max_iter!r}")
        self.map_max_iter = int(map_max_iter)
        self.seed = int(seed)
        labels = index.labels
        self._labels = None if labels is None else [_jsonable(v) for v in labels.tolist()]
        self._names = None
        if class_names and self._labels is not None:
            names = {str(k): str(v) for k, v in dict(class_names).items()}
            self._names = [_lookup_name(names, v) for v in self._labels]
        paths = index.paths
        self._paths = None if paths is None else [str(p) for p in paths.tolist()]
        # what clients see: relative to the image root, or None; never a stored absolute path
        self._public_paths = (
            None if paths is None else [relative_to_root(p, self.image_root) for p in self._paths]
        )
        if threshold is None:
            threshold = estimate_threshold(index.embeddings, labels, self.distance, seed=seed)
            self.threshold_source = (
                "none" if threshold is None else "estimated from the index labels"
            )
        else:
            self.threshold_source = "given"
        self.threshold = None if threshold is None else float(threshold)
        self._model_lock = threading.Lock()
        self._map_lock = threading.Lock()
        self._map: dict | None = None
        self._thumb_lock = threading.Lock()
        self._thumbs: OrderedDict[int, bytes] = OrderedDict()
        if warm_up:
            self.warm_up()

    @classmethod
    def from_files(
        cls, model_path: str | os.PathLike, index_path: str | os.PathLike, **kwargs
    ) -> SearchService:
        """Load the model (safe mode) and the index once, and check they fit together.

        Args:
            model_path: ``.keras`` file.
            index_path: index file written by ``EmbeddingIndex.save`` / ``embedding-net encode``.
            **kwargs: passed to :class:`SearchService`.
        """
        index = load_index(index_path)
        model = load_network(model_path)
        kwargs.setdefault("index_dir", Path(index_path).resolve().parent)
        return cls(model, index, model_name=str(model_path), index_name=str(index_path), **kwargs)

    # ------------------------------------------------------------------ info
    def info(self) -> dict[str, Any]:
        """Settings and sizes shown by the page (JSON-serialisable)."""
        return {
            "model": public_name(self.model_name),
            "index": public_name(self.index_name),
            "index_size": len(self.index),
            "embedding_dim": self.embedding_dim,
            "image_shape": list(self.image_shape),
            "distance": self.distance_name,
            "higher_is_closer": self.higher_is_closer,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "top_k": self.top_k,
            "max_k": min(MAX_K, len(self.index)),
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "has_labels": self._labels is not None,
            "has_paths": self._paths is not None,
            "has_image_root": self.image_root is not None,
        }

    # ------------------------------------------------------------------ images
    def decode_upload(self, data: bytes, field: str = "image") -> np.ndarray:
        """Check and decode uploaded bytes to the network's input: uint8 ``(h, w, c)``.

        Raises:
            ImageRejected: 422 empty / not an image / corrupt / too many pixels; 413 too large.
        """
        return decode_upload(data, self.image_shape, self.max_upload_bytes, self.max_pixels, field)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Embed decoded images uint8 ``(n, h, w, c)`` -> float32 ``(n, dim)``.

        Uses the network's compiled predict step on one batch (``predict_on_batch``: no
        ``predict`` loop, no eager layer-by-layer call); one request at a time.
        """
        with self._model_lock:
            out = self.model.predict_on_batch(np.asarray(images))
        out = np.asarray(out, dtype=np.float32)
        if not np.all(np.isfinite(out)):
            raise ImageRejected(
                500,
                f"model {public_name(self.model_name)} produced a NaN or infinite embedding for this image: "
                "the network is broken (check the model file)",
            )
        return out

    def warm_up(self) -> None:
        """Run the network once on blank images (batches of 1 and 2) so the first request does
        not pay for tracing the predict function."""
        for n in (1, 2):
            self.embed(np.zeros((n, *self.image_shape), np.uint8))

    # ------------------------------------------------------------------ operations
    def check_k(self, k: int | None) -> int:
        """Validate the requested number of results; None gives the default ``top_k``."""
        if k is None:
            k = self.top_k
        limit = min(MAX_K, len(self.index))
        if int(k) != k or not 1 <= k <= limit:
            raise ImageRejected(422, f"k must be an integer from 1 to {limit}, got {k!r}")
        return int(k)

    def matches(self, score: float) -> bool | None:
        """Same at the threshold (None without one): the package's threshold convention."""
        return None if self.threshold is None else is_match(score, self.threshold, self.distance)

    def item(self, item_id: int, score: float | None = None, rank: int | None = None) -> dict:
        """One indexed item as JSON: id, label, path, thumbnail URL (+ score, match, rank).

        ``path`` is relative to the image root, or None (no root, or a file outside it).

        ``score`` is in the units of the index's distance; ``distance`` is the same value in
        "smaller is closer" order (negated for a similarity).
        """
        entry: dict[str, Any] = {
            "id": int(item_id),
            "label": None if self._labels is None else self._labels[item_id],
            "name": None if self._names is None else self._names[item_id],
            "path": None if self._public_paths is None else self._public_paths[item_id],
            "thumbnail_url": f"/api/items/{int(item_id)}/thumbnail",
        }
        if rank is not None:
            entry["rank"] = int(rank)
        if score is not None:
            entry["score"] = float(score)
            entry["distance"] = -float(score) if self.higher_is_closer else float(score)
            entry["match"] = self.matches(score)
        return entry

    def search_embedding(self, embedding: np.ndarray, k: int | None = None) -> list[dict]:
        """Top-k items for one embedding ``(dim,)``, nearest first (ties by index position)."""
        k = self.check_k(k)
        result = self.index.search(np.asarray(embedding, np.float32)[None], k=k)
        return [
            self.item(int(i), float(d), rank)
            for rank, (i, d) in enumerate(zip(result.indices[0], result.scores[0]), start=1)
        ]

    def search(self, data: bytes, k: int | None = None, field: str = "image") -> dict:
        """Search the index with an uploaded image.

        Returns:
            ``{"distance", "threshold", "k", "results": [{rank, id, label, path, score,
            distance, match, thumbnail_url}, ...]}``, nearest first.
        """
        k = self.check_k(k)
        image = self.decode_upload(data, field)
        embedding = self.embed(image[None])[0]
        return {
            "distance": self.distance_name,
            "threshold": self.threshold,
            "k": k,
            "results": self.search_embedding(embedding, k),
        }

    def compare(self, data_a: bytes, data_b: bytes) -> dict:
        """Compare two uploaded images.

        Returns:
            ``{"distance_metric", "score", "distance", "cosine_similarity", "threshold",
            "same"}``: ``score`` in the units of the index's distance, ``distance`` the same
            value in "smaller is closer" order, ``same`` the decision at the threshold (None
            without one).
        """
        image_a = self.decode_upload(data_a, "image_a")
        image_b = self.decode_upload(data_b, "image_b")
        emb = self.embed(np.stack([image_a, image_b]))
        score = float(pair_scores(emb[:1], emb[1:], self.distance)[0])
        return {
            "distance_metric": self.distance_name,
            "score": score,
            "distance": -score if self.higher_is_closer else score,
            "cosine_similarity": float(pair_scores(emb[:1], emb[1:], "cosine")[0]),
            "threshold": self.threshold,
            "same": self.matches(score),
        }

    # ------------------------------------------------------------------ thumbnails
    def thumbnail(self, item_id: int) -> bytes:
        """PNG thumbnail (longest side ``thumbnail_size``) of the indexed item ``item_id``.

        Only files listed in the index are ever opened, chosen by their integer position, and
        with an image root only those under it.

        Raises:
            ImageRejected: 404 unknown id, index without paths, or file missing / unreadable.
        """
        n = len(self.index)
        if not 0 <= item_id < n:
            raise ImageRejected(404, f"item id {item_id} is not in the index (0 to {n - 1})")
        if self._paths is None:
            raise ImageRejected(404, "the index stores no image paths, so it has no thumbnails")
        with self._thumb_lock:
            if item_id in self._thumbs:
                self._thumbs.move_to_end(item_id)
                return self._thumbs[item_id]
        path = resolve_image(self._paths[item_id], self.image_root, self.index_dir)
        if path is None:  # names the path relative to the image root only, if any
            shown = self._public_paths[item_id]
            raise ImageRejected(
                404, f"image of item {item_id} not found" + (f": {shown}" if shown else "")
            )
        data = thumbnail_png(path, self.thumbnail_size, self.max_pixels, item_id)
        with self._thumb_lock:
            self._thumbs[item_id] = data
            while len(self._thumbs) > 4096:
                self._thumbs.popitem(last=False)
        return data

    # ------------------------------------------------------------------ t-SNE map
    def start_map_precompute(self) -> threading.Thread:
        """Compute the t-SNE map in a background thread (it takes seconds to minutes)."""

        def work():
            try:
                self.tsne_map()
            except Exception:  # logged, and raised again when the map is requested
                logger.exception("t-SNE map precomputation failed")

        thread = threading.Thread(target=work, name="embedding-net-tsne-map", daemon=True)
        thread.start()
        return thread

    def tsne_map(self) -> dict:
        """2-D t-SNE of (a seeded subset of) the index, computed on first use and cached.

        Returns:
            ``{"ids": int list, "x": [...], "y": [...], "labels": [...], "paths": [...],
            "total": index size}`` (paths relative to the image root, or None).
        """
        with self._map_lock:
            if self._map is None:
                self._map = tsne_map_points(
                    self.index.embeddings,
                    {"labels": self._labels, "names": self._names, "paths": self._public_paths},
                    self.max_map_points,
                    self.seed,
                    self.map_max_iter,
                )
            return self._map
