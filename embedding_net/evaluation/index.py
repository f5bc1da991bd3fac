"""EmbeddingIndex: a searchable database of embeddings with labels, paths and metadata.

Exact search is chunked numpy (memory O(chunk_size * n_items)); ``backend="keras"`` runs the
same exact search with ``keras.ops.matmul`` + ``keras.ops.top_k`` on the active Keras backend
(on the GPU when there is one); an optional faiss backend (``pip install embedding-net[faiss]``)
does it with faiss ``IndexFlat``.
An index is saved as ONE ``.npz`` file holding arrays plus a JSON string, read back with
``np.load(allow_pickle=False)``: no pickle, safe to load from untrusted sources.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass

import numpy as np

from embedding_net.evaluation._inputs import (
    DistanceChunks,
    check_distance,
    check_embeddings,
    check_positive_int,
    l2_normalize,
    to_numpy,
)

__all__ = ["EmbeddingIndex", "SearchResult", "build_index_from_folder"]

FORMAT = "embedding_net.EmbeddingIndex"
FORMAT_VERSION = 1
BACKENDS = ("exact", "keras", "faiss")


@dataclass
class SearchResult:
    """Nearest neighbours of a batch of queries, nearest first.

    Attributes:
        indices: int64 array (n_queries, k), positions in the index.
        distances: float32 array (n_queries, k); euclidean (L2) or cosine (1 - cos) distance.
        labels: array (n_queries, k) of the neighbours' labels, or None.
        paths: str array (n_queries, k), or None.
        metadata: list (n_queries) of lists (k) of dicts, or None.

    Also readable like a dict: ``result["indices"]``.
    """

    indices: np.ndarray
    distances: np.ndarray
    labels: np.ndarray | None = None
    paths: np.ndarray | None = None
    metadata: list | None = None

    def __getitem__(self, key: str):
        if key not in ("indices", "distances", "labels", "paths", "metadata"):
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return ["indices", "distances", "labels", "paths", "metadata"]


def _faiss():
    if importlib.util.find_spec("faiss") is None:
        raise ImportError(
            "EmbeddingIndex(backend='faiss') needs faiss: pip install embedding-net[faiss] "
            "(or faiss-cpu / faiss-gpu)."
        )
    import faiss

    return faiss


def _as_label_array(labels, n: int, name: str) -> np.ndarray:
    arr = to_numpy(labels, name)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"`{name}` must be 1-D with {n} entries, got shape {arr.shape}.")
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr):
            arr = arr.astype(str)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"`{name}` must hold ints or strings (saved without pickle).")
    if arr.dtype.kind not in "biufU":
        raise ValueError(f"`{name}` must hold numbers or strings, got dtype {arr.dtype}.")
    return arr


class EmbeddingIndex:
    """Exact nearest-neighbour index over embeddings, with labels, paths and metadata.

    Example:
        >>> index = EmbeddingIndex(distance="cosine")
        >>> index.add(gallery_embeddings, labels=ids, paths=files)
        >>> result = index.search(query_embeddings, k=5)
        >>> result.paths[0], result.distances[0]
        >>> index.save("gallery.npz"); index = EmbeddingIndex.load("gallery.npz")

    Args:
        distance: "euclidean" (L2 distance) or "cosine" (1 - cosine similarity).
        backend: "exact" (numpy, chunked), "keras" (chunked ``keras.ops`` matmul + top_k
            on the active backend's device, e.g. a GPU; the items are kept there as one
            tensor) or "faiss" (exact ``IndexFlatL2`` / ``IndexFlatIP``; needs
            ``pip install embedding-net[faiss]``). All three return the same neighbours up
            to floating-point ties.
        chunk_size: queries searched at once by the exact backend.
    """

    def __init__(self, distance: str = "euclidean", backend: str = "exact", chunk_size: int = 1024):
        self.distance = check_distance(distance)
        if backend not in BACKENDS:
            raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}.")
        if backend == "faiss":
            _faiss()
        self.backend = backend
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self._blocks: list[np.ndarray] = []
        self._embeddings: np.ndarray | None = None
        self._labels: list[np.ndarray] | None = None
        self._paths: list[np.ndarray] | None = None
        self._metadata: list[dict] | None = None
        self._size = 0
        self._dim: int | None = None
        self._backend_cache = None

    # --- building ---------------------------------------------------------------------------

    def add(self, embeddings, labels=None, paths=None, metadata=None) -> np.ndarray:
        """Adds items. Labels / paths / metadata must be given for every ``add`` or none.

        Args:
            embeddings: float array (n, dim) (or (dim,) for one item).
            labels: optional array (n,) of ints or strings.
            paths: optional sequence (n,) of str (e.g. image files).
            metadata: optional sequence (n,) of JSON-serialisable dicts.

        Returns:
            int64 array (n,): the positions given to the new items.
        """
        x = to_numpy(embeddings, "embeddings")
        if x.ndim == 1:
            x = x[None, :]
        x = check_embeddings(x, "embeddings").astype(np.float32, copy=False)
        n = x.shape[0]
        if self._dim is not None and x.shape[1] != self._dim:
            raise ValueError(
                f"`embeddings` has dimension {x.shape[1]}, the index holds {self._dim}."
            )
        first = self._size == 0
        for name, value, store in (
            ("labels", labels, self._labels),
            ("paths", paths, self._paths),
            ("metadata", metadata, self._metadata),
        ):
            if not first and (value is None) != (store is None):
                raise ValueError(
                    f"`{name}` must be given for every add() or for none (this index was "
                    f"built {'with' if store is not None else 'without'} {name})."
                )
        new_labels = None if labels is None else _as_label_array(labels, n, "labels")
        new_paths = None
        if paths is not None:
            new_paths = np.asarray([os.fspath(p) for p in paths], dtype=str)
            if new_paths.shape != (n,):
                raise ValueError(f"`paths` must have {n} entries, got {len(new_paths)}.")
        new_meta = None
        if metadata is not None:
            new_meta = [dict(m) if m is not None else {} for m in metadata]
            if len(new_meta) != n:
                raise ValueError(f"`metadata` must have {n} entries, got {len(new_meta)}.")
            try:
                json.dumps(new_meta)
            except TypeError as exc:
                raise ValueError(f"`metadata` must be JSON-serialisable: {exc}") from None
        if first:
            self._labels = None if new_labels is None else []
            self._paths = None if new_paths is None else []
            self._metadata = None if new_meta is None else []
        if new_labels is not None:
            if self._labels and self._labels[0].dtype.kind != new_labels.dtype.kind:
                if {self._labels[0].dtype.kind, new_labels.dtype.kind} != {"i", "u"}:
                    raise ValueError("`labels` must keep one kind (numbers or strings).")
            self._labels.append(new_labels)
        if new_paths is not None:
            self._paths.append(new_paths)
        if new_meta is not None:
            self._metadata.extend(new_meta)
        self._blocks.append(x)
        self._embeddings = None
        self._backend_cache = None
        self._dim = x.shape[1]
        positions = np.arange(self._size, self._size + n, dtype=np.int64)
        self._size += n
        return positions

    def __len__(self) -> int:
        return self._size

    @property
    def dim(self) -> int | None:
        """Embedding dimension, None while the index is empty."""
        return self._dim

    @property
    def embeddings(self) -> np.ndarray:
        """float32 array (len, dim) of all items."""
        if self._embeddings is None:
            if self._blocks:
                self._embeddings = np.concatenate(self._blocks, axis=0)
                self._blocks = [self._embeddings]
            else:
                self._embeddings = np.zeros((0, self._dim or 0), np.float32)
        return self._embeddings

    @property
    def labels(self) -> np.ndarray | None:
        if self._labels is None:
            return None
        merged = np.concatenate(self._labels) if self._labels else np.zeros((0,))
        self._labels = [merged]
        return merged

    @property
    def paths(self) -> np.ndarray | None:
        if self._paths is None:
            return None
        merged = np.concatenate(self._paths) if self._paths else np.zeros((0,), dtype=str)
        self._paths = [merged]
        return merged

    @property
    def metadata(self) -> list | None:
        return self._metadata

    # --- search ------------------------------------------------------------------------------

    def search(self, queries, k: int = 5) -> SearchResult:
        """The k nearest items of each query (exact), nearest first.

        Ties are ordered by index position. ``k`` larger than the index is reduced to its size.

        Args:
            queries: float array (n_queries, dim) or (dim,).
            k: number of neighbours.

        Returns:
            :class:`SearchResult` with arrays of shape (n_queries, k).
        """
        if self._size == 0:
            raise ValueError("the index is empty: add() embeddings before search().")
        q = to_numpy(queries, "queries")
        if q.ndim == 1:
            q = q[None, :]
        q = check_embeddings(q, "queries").astype(np.float32, copy=False)
        if q.shape[1] != self._dim:
            raise ValueError(f"`queries` has dimension {q.shape[1]}, the index holds {self._dim}.")
        k = min(check_positive_int(k, "k"), self._size)
        if self.backend == "faiss":
            indices, distances = self._search_faiss(q, k)
        elif self.backend == "keras":
            indices, distances = self._search_keras(q, k)
        else:
            indices, distances = self._search_exact(q, k)
        labels = self.labels
        paths = self.paths
        return SearchResult(
            indices=indices,
            distances=distances,
            labels=None if labels is None else labels[indices],
            paths=None if paths is None else paths[indices],
            metadata=None
            if self._metadata is None
            else [[self._metadata[i] for i in row] for row in indices],
        )

    def _search_exact(self, q, k):
        n = q.shape[0]
        indices = np.empty((n, k), dtype=np.int64)
        distances = np.empty((n, k), dtype=np.float32)
        chunks = DistanceChunks(
            q, self.embeddings, self.distance, self.chunk_size, ranking_only=True
        )
        for start, stop, d in chunks:
            # d ranks like the distance: |g|^2 - 2 q.g (euclidean) or -cos (cosine)
            if k < d.shape[1]:
                part = np.argpartition(d, k - 1, axis=1)[:, :k]
                kth = np.take_along_axis(d, part, axis=1).max(axis=1, keepdims=True)
                if np.sum(d <= kth) > k * d.shape[0]:  # ties at the k-th distance
                    part = _lowest_positions_within(d, kth, k)
            else:
                part = np.broadcast_to(np.arange(d.shape[1]), d.shape)
            part_d = np.take_along_axis(d, part, axis=1)
            order = np.lexsort((part, part_d), axis=1)
            idx = np.take_along_axis(part, order, axis=1)
            dist = np.take_along_axis(part_d, order, axis=1).astype(np.float64)
            if self.distance == "euclidean":
                block = q[start:stop]
                q_sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
                dist = np.sqrt(np.maximum(dist + q_sq[:, None], 0.0))
            else:
                dist = 1.0 + dist
            indices[start:stop] = idx
            distances[start:stop] = dist
        return indices, distances

    def _search_keras(self, q, k):
        import keras

        ops = keras.ops
        if self._backend_cache is None:  # device-side copy of the items, built once
            data = self.embeddings
            if self.distance == "cosine":
                data = l2_normalize(data)
            data_t = ops.convert_to_tensor(data)
            sq = None if self.distance == "cosine" else ops.sum(ops.square(data_t), axis=1)
            self._backend_cache = (data_t, sq)
        data_t, sq = self._backend_cache
        n = q.shape[0]
        indices = np.empty((n, k), dtype=np.int64)
        distances = np.empty((n, k), dtype=np.float32)
        if self.distance == "cosine":
            q = l2_normalize(q)
        for start in range(0, n, self.chunk_size):
            block = q[start : start + self.chunk_size]
            score = ops.matmul(ops.convert_to_tensor(block), ops.transpose(data_t))
            if sq is not None:  # -(squared distance) + |q|^2: larger = closer
                score = 2.0 * score - sq[None, :]
            values, idx = ops.top_k(score, k, sorted=True)
            values = ops.convert_to_numpy(values).astype(np.float64)
            idx = ops.convert_to_numpy(idx).astype(np.int64)
            if sq is None:
                dist = 1.0 - values
            else:
                q_sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
                dist = np.sqrt(np.maximum(q_sq[:, None] - values, 0.0))
            order = np.lexsort((idx, dist), axis=1)
            indices[start : start + block.shape[0]] = np.take_along_axis(idx, order, axis=1)
            distances[start : start + block.shape[0]] = np.take_along_axis(dist, order, axis=1)
        return indices, distances

    def _search_faiss(self, q, k):
        faiss = _faiss()
        if self._backend_cache is None:
            data = self.embeddings
            if self.distance == "cosine":
                index = faiss.IndexFlatIP(self._dim)
                index.add(np.ascontiguousarray(l2_normalize(data), dtype=np.float32))
            else:
                index = faiss.IndexFlatL2(self._dim)
                index.add(np.ascontiguousarray(data, dtype=np.float32))
            self._backend_cache = index
        if self.distance == "cosine":
            sims, indices = self._backend_cache.search(
                np.ascontiguousarray(l2_normalize(q), dtype=np.float32), k
            )
            distances = 1.0 - sims
        else:
            sq, indices = self._backend_cache.search(np.ascontiguousarray(q, dtype=np.float32), k)
            distances = np.sqrt(np.maximum(sq, 0.0))
        return indices.astype(np.int64), distances.astype(np.float32)

    # --- persistence -------------------------------------------------------------------------

    def save(self, path) -> None:
        """Writes the index to ONE ``.npz`` file (arrays + a JSON string, no pickle).

        Args:
            path: file path; written as given (no suffix is added), atomically.
        """
        path = os.fspath(path)
        labels = self.labels
        paths = self.paths
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "distance": self.distance,
            "backend": self.backend,
            "chunk_size": self.chunk_size,
            "dim": self._dim,
            "size": self._size,
            "has_labels": labels is not None,
            "has_paths": paths is not None,
            "metadata": self._metadata,
        }
        arrays = {"header": np.asarray(json.dumps(header)), "embeddings": self.embeddings}
        if labels is not None:
            arrays["labels"] = labels
        if paths is not None:
            arrays["paths"] = paths
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path, backend: str | None = None) -> EmbeddingIndex:
        """Reads an index written by :meth:`save` (``np.load(allow_pickle=False)``).

        Args:
            path: the ``.npz`` file.
            backend: override the saved backend ("exact" or "faiss").

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: the file is not an EmbeddingIndex file.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"EmbeddingIndex.load: {path} does not exist.")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                if header.get("format") != FORMAT:
                    raise ValueError
                embeddings = data["embeddings"]
                labels = data["labels"] if header["has_labels"] else None
                paths = data["paths"] if header["has_paths"] else None
        except (KeyError, ValueError, OSError, json.JSONDecodeError):
            raise ValueError(
                f"EmbeddingIndex.load: {path} is not an EmbeddingIndex file."
            ) from None
        if header["version"] > FORMAT_VERSION:
            raise ValueError(
                f"EmbeddingIndex.load: {path} has format version {header['version']}; this "
                f"embedding_net reads up to {FORMAT_VERSION}."
            )
        index = cls(
            distance=header["distance"],
            backend=backend or header["backend"],
            chunk_size=header["chunk_size"],
        )
        if header["size"]:
            index.add(embeddings, labels=labels, paths=paths, metadata=header["metadata"])
        else:
            index._dim = header["dim"]
        return index

    def __repr__(self) -> str:
        return (
            f"EmbeddingIndex(size={self._size}, dim={self._dim}, distance={self.distance!r}, "
            f"backend={self.backend!r})"
        )


def _lowest_positions_within(d, kth, k):
    """Per row, the k lowest positions among items strictly closer than kth, then tied ones."""
    closer = d < kth
    tied = d == kth
    key = np.where(closer, 0, np.where(tied, 1, 2)).astype(np.int8)
    return np.argsort(key, axis=1, kind="stable")[:, :k]


def build_index_from_folder(
    network,
    folder,
    image_size,
    batch_size: int = 64,
    distance: str = "euclidean",
    backend: str = "exact",
    flip: bool = False,
) -> EmbeddingIndex:
    """Embeds every image of a class-folder tree into an :class:`EmbeddingIndex`.

    ``folder/<class>/<image>`` (or ``folder/<split>/<class>/<image>``) is listed with
    :func:`embedding_net.data.list_class_folders`, loaded with
    :func:`embedding_net.data.load_images` and encoded with the network. Labels are the class
    folder names, paths the image files, metadata the listing's metadata. Unreadable images
    are skipped (with a warning from the loader).

    Args:
        network: model with ``encode`` / ``predict``, or a callable on image batches.
        folder: root folder of the images.
        image_size: (height, width) the network expects.
        batch_size: images per forward pass.
        distance: "euclidean" or "cosine".
        backend: "exact" or "faiss".
        flip: flip test-time augmentation (see :func:`encode_with_flip`).

    Returns:
        the filled :class:`EmbeddingIndex`.
    """
    from embedding_net.data import list_class_folders, load_images
    from embedding_net.evaluation.encoding import encode_images, encode_with_flip

    records = list_class_folders(folder)
    loaded = load_images([r.path for r in records], image_size=tuple(image_size))
    if len(loaded.kept) == 0:
        raise ValueError(f"build_index_from_folder: no readable image under {folder}.")
    kept = [records[i] for i in loaded.kept]
    if flip:
        embeddings = encode_with_flip(network, loaded.images, batch_size)
    else:
        embeddings = encode_images(network, loaded.images, batch_size)
    index = EmbeddingIndex(distance=distance, backend=backend)
    index.add(
        embeddings,
        labels=np.asarray([str(r.label) for r in kept]),
        paths=[r.path for r in kept],
        metadata=[r.metadata for r in kept],
    )
    return index
