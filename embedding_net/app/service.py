"""The search service behind the web app: one model + one index, loaded once, no web framework.

:class:`SearchService` holds a loaded embedding network and an
:class:`~embedding_net.evaluation.EmbeddingIndex` and answers the app's operations (search by
image, compare two images, thumbnails of indexed items, the t-SNE map) on raw uploaded bytes.
Every rejected input raises :class:`ImageRejected` with the HTTP status the web layer answers
with, so the rules live here and are tested without a server.

Uploaded images are decoded exactly like :func:`embedding_net.data.load_images` decodes the
files of an index (TensorFlow for JPEG/PNG/BMP/GIF, Pillow conversion to 8-bit RGB for other
formats, bilinear resize to the network's input size), so a query identical to an indexed file
gets the same embedding as that file.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
MAX_K = 100


class ImageRejected(ValueError):
    """A request the service refuses; ``status`` is the HTTP status code to answer with.

    Attributes:
        status: 413 (upload larger than the byte limit), 422 (empty, not an image, corrupt,
            too many pixels, bad parameter), 404 (unknown item id) or 500 (the network gave a
            non-finite embedding).
        message: what was wrong, naming the field and the limit.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


def load_network(model_path: str | os.PathLike):
    """Load a ``.keras`` embedding network in Keras safe mode (no arbitrary code, no pickle).

    Args:
        model_path: a ``.keras`` file saved by ``model.save``.

    Returns:
        the embedding network: the loaded model, or its ``.network`` for a siamese / triplet
        training model (a :class:`~embedding_net.BaseNetwork` for files this library writes).

    Raises:
        FileNotFoundError: ``model_path`` does not exist.
        ValueError: not a ``.keras`` file, or Keras cannot load it in safe mode.
    """
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"model: {path} does not exist (expected a .keras file)")
    if path.suffix != ".keras":
        raise ValueError(f"model: {path} is not a .keras file (save the network with .save())")

    from embedding_net.saving import load_model

    try:
        model = load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ValueError(f"model: cannot load {path} in Keras safe mode: {exc}") from exc
    # a SiameseModel / TripletModel wraps its embedding network as ``.network``
    return getattr(model, "network", model)


def load_index(index_path: str | os.PathLike):
    """Load an :class:`~embedding_net.evaluation.EmbeddingIndex` file (``allow_pickle=False``)."""
    from embedding_net.evaluation.index import EmbeddingIndex

    path = Path(index_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"index: {path} does not exist (build one with `embedding-net encode`)"
        )
    return EmbeddingIndex.load(path)


def _network_image_shape(model) -> tuple[int, int, int]:
    shape = getattr(model, "image_shape", None)
    if shape is None:
        shape = tuple(model.input_shape[1:])
    shape = tuple(int(s) if s is not None else -1 for s in shape)
    if len(shape) != 3 or min(shape) < 1 or shape[-1] not in (1, 3):
        raise ValueError(
            f"model: expected images of a fixed (height, width, 1 or 3) shape, got {shape}"
        )
    return shape


def _network_embedding_dim(model) -> int:
    dim = getattr(model, "embedding_dim", None)
    if dim is None:
        dim = model.output_shape[-1]
    return int(dim)


def pair_distance(a: np.ndarray, b: np.ndarray, distance: str) -> float:
    """Distance between two embeddings ``(dim,)``: L2 (``euclidean``) or ``1 - cos`` (``cosine``)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if distance == "cosine":
        denom = max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
        return float(1.0 - np.dot(a, b) / denom)
    return float(np.linalg.norm(a - b))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings ``(dim,)`` in ``[-1, 1]``."""
    return 1.0 - pair_distance(a, b, "cosine")


def balanced_threshold(distances: np.ndarray, is_same: np.ndarray) -> float:
    """The cut maximising balanced accuracy ``(TPR + TNR) / 2`` of ``distance <= threshold``.

    Balanced (Youden's J), not plain accuracy: among all pairs of a many-class index the
    different-label pairs outnumber the same-label ones about (classes - 1) to 1, and the
    accuracy-maximising cut then rejects nearly every pair. Candidates are the midpoints between
    consecutive distinct distances plus one value below the smallest and one above the largest;
    among equally good cuts the middle one (by position) is returned.

    Args:
        distances: float array (n,) of pair distances.
        is_same: bool array (n,), both classes present.

    Returns:
        the threshold.
    """
    d = np.asarray(distances, np.float64)
    y = np.asarray(is_same, bool)
    uniq = np.unique(d)
    candidates = np.concatenate([[uniq[0] - 1.0], (uniq[:-1] + uniq[1:]) / 2.0, [uniq[-1] + 1.0]])
    same = np.sort(d[y])
    diff = np.sort(d[~y])
    tpr = np.searchsorted(same, candidates, side="right") / len(same)
    tnr = 1.0 - np.searchsorted(diff, candidates, side="right") / len(diff)
    score = tpr + tnr
    best = np.flatnonzero(score >= score.max() - 1e-12)
    return float(candidates[best[len(best) // 2]])


def estimate_threshold(
    embeddings: np.ndarray,
    labels: np.ndarray | None,
    distance: str,
    max_items: int = 1000,
    seed: int = 0,
) -> float | None:
    """A match threshold from the index itself: same-label vs different-label pairs.

    All pairs of up to ``max_items`` items (a seeded random subset of the index) are scored and
    :func:`balanced_threshold` picks the cut. This is a training-set estimate (optimistic, and
    near-duplicates in the index pull it down); pass an explicit threshold measured on held-out
    pairs when you have one.

    Args:
        embeddings: float array (n, dim).
        labels: array (n,) or None.
        distance: "euclidean" or "cosine".
        max_items: subset size (the work is quadratic in it).
        seed: subset seed.

    Returns:
        the threshold (same = distance <= threshold), or None when there are no labels or no
        same-label / different-label pair to learn from.
    """
    if labels is None or len(labels) < 2:
        return None
    n = len(labels)
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(n, size=min(n, max_items), replace=False))
    x = np.asarray(embeddings, np.float64)[subset]
    y = np.asarray(labels)[subset]
    if distance == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        d = 1.0 - x @ x.T
    else:
        sq = np.sum(x * x, axis=1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))
    upper = np.triu_indices(len(subset), k=1)
    same = (y[:, None] == y[None, :])[upper]
    if same.all() or not same.any():
        return None
    return balanced_threshold(d[upper], same)


def read_class_names(path: str | os.PathLike) -> dict[str, str]:
    """Read ``label -> display name`` from a CSV with a header row (first column the label,
    second the name), e.g. GTSRB's ``class_names.csv`` (``class_id,name``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: fewer than two columns or no rows.
    """
    import csv

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class names: {path} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row]
    if len(rows) < 2 or any(len(row) < 2 for row in rows):
        raise ValueError(
            f"class names: {path} must be a CSV with a header and rows 'label,name' "
            "(at least two columns)"
        )
    return {row[0].strip(): row[1].strip() for row in rows[1:]}


def _lookup_name(names: dict[str, str], label) -> str | None:
    key = str(label)
    if key in names:
        return names[key]
    try:  # "07" (a class folder) matches "7" (a class id)
        return names.get(str(int(key)))
    except ValueError:
        return None


class SearchService:
    """An embedding network and an index, answering search / compare / thumbnail / map requests.

    Args:
        model: a Keras embedding network (``BaseNetwork`` or any model mapping uint8 images
            ``(n, h, w, c)`` to embeddings ``(n, dim)``).
        index: an :class:`~embedding_net.evaluation.EmbeddingIndex` holding ``dim``-sized
            embeddings made by the same network.
        threshold: distance at or below which two images are "the same"; None estimates it from
            the index's labels (:func:`estimate_threshold`), and stays None without labels.
        top_k: default number of results.
        max_upload_bytes: larger uploads are refused with 413.
        max_pixels: images with more pixels (width x height) are refused with 422 before they are
            decoded (decompression bombs).
        image_root: folder against which relative index paths are resolved for thumbnails
            (default: as stored, relative to the working directory, then to ``index_dir``).
        index_dir: folder of the index file (second place relative paths are looked up).
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
        if len(index) == 0:
            raise ValueError(f"index {self.index_name} is empty: nothing to search")
        if index.dim != self.embedding_dim:
            raise ValueError(
                f"index {self.index_name} holds {index.dim}-d embeddings but model "
                f"{self.model_name} outputs {self.embedding_dim}-d embeddings: build the index "
                "with this model (`embedding-net encode`) or serve the model it was built with"
            )
        for name, value in (
            ("top_k", top_k),
            ("max_upload_bytes", max_upload_bytes),
            ("max_pixels", max_pixels),
            ("thumbnail_size", thumbnail_size),
            ("max_map_points", max_map_points),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if threshold is not None and not math.isfinite(float(threshold)):
            raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
        self.distance = index.distance
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
            "model": self.model_name,
            "index": self.index_name,
            "index_size": len(self.index),
            "embedding_dim": self.embedding_dim,
            "image_shape": list(self.image_shape),
            "distance": self.distance,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "top_k": self.top_k,
            "max_k": min(MAX_K, len(self.index)),
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "has_labels": self._labels is not None,
            "has_paths": self._paths is not None,
        }

    # ------------------------------------------------------------------ images
    def decode_upload(self, data: bytes, field: str = "image") -> np.ndarray:
        """Check and decode uploaded bytes to the network's input: uint8 ``(h, w, c)``.

        Args:
            data: the uploaded file's bytes.
            field: the form field name, used in error messages.

        Raises:
            ImageRejected: 422 empty / not an image / corrupt / too many pixels; 413 too large.
        """
        from PIL import Image, UnidentifiedImageError

        from embedding_net.data.images import BROKEN, NATIVE, inspect_image_bytes, to_png_rgb8

        if data is None or len(data) == 0:
            raise ImageRejected(422, f"{field}: the uploaded file is empty (0 bytes)")
        if len(data) > self.max_upload_bytes:
            raise ImageRejected(
                413,
                f"{field}: the upload is {len(data):,} bytes, larger than the limit of "
                f"{self.max_upload_bytes:,} bytes",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as img:
                    width, height = img.size
            except Image.DecompressionBombError as exc:
                raise ImageRejected(422, f"{field}: image has too many pixels ({exc})") from None
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                raise ImageRejected(
                    422,
                    f"{field}: not an image file Pillow can read (expected JPEG, PNG, BMP, GIF, "
                    "TIFF, WebP, ...)",
                ) from None
            if width * height > self.max_pixels:
                raise ImageRejected(
                    422,
                    f"{field}: the image is {width} x {height} = {width * height:,} pixels, more "
                    f"than the limit of {self.max_pixels:,} pixels",
                )
            kind, reason = inspect_image_bytes(data)
        if kind == BROKEN:
            raise ImageRejected(422, f"{field}: corrupt or truncated image ({reason})")
        contents = data if kind == NATIVE else to_png_rgb8(data)
        return self._decode_resize(contents, field)

    def _decode_resize(self, contents: bytes, field: str) -> np.ndarray:
        import tensorflow as tf

        from embedding_net.data.images import decode_resize

        h, w, c = self.image_shape
        try:
            image = decode_resize(tf.constant(contents), (h, w), channels=c)
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
            raise ImageRejected(
                422, f"{field}: the image cannot be decoded ({exc.message})"
            ) from None
        return image.numpy()

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
                f"model {self.model_name} produced a NaN or infinite embedding for this image: "
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

    def item(self, item_id: int, distance: float | None = None, rank: int | None = None) -> dict:
        """One indexed item as JSON: id, label, path, thumbnail URL (+ distance, match, rank)."""
        entry: dict[str, Any] = {
            "id": int(item_id),
            "label": None if self._labels is None else self._labels[item_id],
            "name": None if self._names is None else self._names[item_id],
            "path": None if self._paths is None else self._paths[item_id],
            "thumbnail_url": f"/api/items/{int(item_id)}/thumbnail",
        }
        if rank is not None:
            entry["rank"] = int(rank)
        if distance is not None:
            entry["distance"] = float(distance)
            entry["match"] = None if self.threshold is None else bool(distance <= self.threshold)
        return entry

    def search_embedding(self, embedding: np.ndarray, k: int | None = None) -> list[dict]:
        """Top-k items for one embedding ``(dim,)``, nearest first (ties by index position)."""
        k = self.check_k(k)
        result = self.index.search(np.asarray(embedding, np.float32)[None], k=k)
        return [
            self.item(int(i), float(d), rank)
            for rank, (i, d) in enumerate(zip(result.indices[0], result.distances[0]), start=1)
        ]

    def search(self, data: bytes, k: int | None = None, field: str = "image") -> dict:
        """Search the index with an uploaded image.

        Returns:
            ``{"distance", "threshold", "k", "results": [{rank, id, label, path, distance,
            match, thumbnail_url}, ...]}``, nearest first.
        """
        k = self.check_k(k)
        image = self.decode_upload(data, field)
        embedding = self.embed(image[None])[0]
        return {
            "distance": self.distance,
            "threshold": self.threshold,
            "k": k,
            "results": self.search_embedding(embedding, k),
        }

    def compare(self, data_a: bytes, data_b: bytes) -> dict:
        """Compare two uploaded images.

        Returns:
            ``{"distance_metric", "distance", "cosine_similarity", "threshold", "same"}`` where
            ``same`` is ``distance <= threshold`` (None without a threshold).
        """
        image_a = self.decode_upload(data_a, "image_a")
        image_b = self.decode_upload(data_b, "image_b")
        emb = self.embed(np.stack([image_a, image_b]))
        dist = pair_distance(emb[0], emb[1], self.distance)
        return {
            "distance_metric": self.distance,
            "distance": dist,
            "cosine_similarity": cosine_similarity(emb[0], emb[1]),
            "threshold": self.threshold,
            "same": None if self.threshold is None else bool(dist <= self.threshold),
        }

    # ------------------------------------------------------------------ thumbnails
    def _resolve(self, stored: str) -> Path | None:
        path = Path(stored)
        candidates = [path] if path.is_absolute() else []
        if not path.is_absolute():
            if self.image_root is not None:
                candidates.append(self.image_root / path)
            candidates.append(path)
            if self.index_dir is not None:
                candidates.append(self.index_dir / path)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        return None

    def thumbnail(self, item_id: int) -> bytes:
        """PNG thumbnail (longest side ``thumbnail_size``) of the indexed item ``item_id``.

        Only files listed in the index are ever opened, chosen by their integer position.

        Raises:
            ImageRejected: 404 unknown id, index without paths, or file missing / unreadable.
        """
        from PIL import Image

        n = len(self.index)
        if not 0 <= item_id < n:
            raise ImageRejected(404, f"item id {item_id} is not in the index (0 to {n - 1})")
        if self._paths is None:
            raise ImageRejected(404, "the index stores no image paths, so it has no thumbnails")
        with self._thumb_lock:
            if item_id in self._thumbs:
                self._thumbs.move_to_end(item_id)
                return self._thumbs[item_id]
        path = self._resolve(self._paths[item_id])
        if path is None:
            raise ImageRejected(404, f"image of item {item_id} not found: {self._paths[item_id]}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    if img.size[0] * img.size[1] > self.max_pixels:
                        raise ImageRejected(404, f"image of item {item_id} is too large to show")
                    picture = img.convert("RGB")
            picture.thumbnail((self.thumbnail_size, self.thumbnail_size))
            if max(picture.size) < self.thumbnail_size:  # upscale small images (sharp pixels)
                scale = self.thumbnail_size / max(picture.size)
                size = (
                    max(1, round(picture.size[0] * scale)),
                    max(1, round(picture.size[1] * scale)),
                )
                picture = picture.resize(size, Image.NEAREST)
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageRejected(404, f"image of item {item_id} cannot be read: {exc}") from None
        data = buffer.getvalue()
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
            "total": index size}``.
        """
        with self._map_lock:
            if self._map is None:
                from embedding_net.visualization.tsne import tsne_embed

                n = len(self.index)
                ids = np.arange(n)
                if n > self.max_map_points:
                    rng = np.random.default_rng(self.seed)
                    ids = np.sort(rng.choice(n, size=self.max_map_points, replace=False))
                embeddings = self.index.embeddings[ids]
                if len(ids) == 1:
                    points = np.zeros((1, 2), np.float32)
                else:
                    points = tsne_embed(embeddings, seed=self.seed, max_iter=self.map_max_iter)
                self._map = {
                    "ids": ids.tolist(),
                    "x": points[:, 0].astype(float).tolist(),
                    "y": points[:, 1].astype(float).tolist(),
                    "labels": [None if self._labels is None else self._labels[i] for i in ids],
                    "names": [None if self._names is None else self._names[i] for i in ids],
                    "paths": [None if self._paths is None else self._paths[i] for i in ids],
                    "total": n,
                }
            return self._map


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    return value
