"""EmbeddingIndex: a searchable database of embeddings with labels, paths and metadata.

Exact search is chunked numpy (memory O(chunk_size * n_items)); ``backend="keras"`` runs the
same exact search with ``keras.ops.matmul`` + ``keras.ops.top_k`` on the active Keras backend
(on the GPU when there is one); an optional faiss backend (``pip install embedding-net[faiss]``)
does it with faiss ``IndexFlat``, or approximately with an ``index_factory`` string (IVF, HNSW).
An index is saved as ONE ``.npz`` file holding arrays plus a JSON string, read back with
``np.load(allow_pickle=False)``: no pickle, safe to load from untrusted sources.
"""

from __future__ import annotations

import json
import logging
import os
import warnings

import numpy as np

from embedding_net.atomic import atomic_path
from embedding_net.evaluation import _approximate, _search
from embedding_net.evaluation._inputs import (
    check_distance,
    check_embeddings,
    check_item_fields,
    check_positive_int,
    to_numpy,
)
from embedding_net.evaluation._search import SearchResult
from embedding_net.evaluation.scores import is_similarity, resolve_distance

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingIndex", "SearchResult"]

FORMAT = "embedding_net.EmbeddingIndex"
FORMAT_VERSION = 2  # 2: distance names of embedding_net.distances ("cosine" = similarity)
BACKENDS = ("exact", "keras", "faiss")


class EmbeddingIndex:
    """Exact nearest-neighbour index over embeddings, with labels, paths and metadata.

    Example:
        >>> index = EmbeddingIndex(distance="cosine")
        >>> index.add(gallery_embeddings, labels=ids, paths=files)
        >>> result = index.search(query_embeddings, k=5)
        >>> result.paths[0], result.distances[0]
        >>> index.save("gallery.npz"); index = EmbeddingIndex.load("gallery.npz")

    Args:
        distance: a distance name or ``Distance`` object of :mod:`embedding_net.distances`:
            ``"L2"`` (alias ``"euclidean"``), ``"squared-L2"``, ``"angular"`` (``1 - cos``,
            the ``"cosine"`` of index files written before format 2), ``"cosine"`` (cosine
            similarity) or ``"dot"``; search results carry scores in its units.
        backend: "exact" (numpy, chunked), "keras" (chunked ``keras.ops`` matmul + top_k
            on the active backend's device, e.g. a GPU; the items are kept there as one
            tensor) or "faiss" (exact ``IndexFlatL2`` / ``IndexFlatIP``; needs
            ``pip install embedding-net[faiss]``; built-in distances only). All three
            return the same neighbours up to floating-point ties.
        chunk_size: queries searched at once by the exact backend.
        index_factory: with backend "faiss", a faiss ``index_factory`` string for an
            APPROXIMATE index, e.g. ``"IVF1024,Flat"`` (train on >= 39 items per list) or
            ``"HNSW32"``; built (and trained) on the first search after an ``add``, saved
            inside the ``.npz`` file. None: exact search.
        search_parameters: faiss search parameters of that index, e.g. ``{"nprobe": 32}``
            (IVF) or ``{"efSearch": 128}`` (HNSW): more is slower and closer to exact.
        metric: deprecated name of ``distance``.
    """

    def __init__(
        self,
        distance="euclidean",
        backend: str = "exact",
        chunk_size: int = 1024,
        *,
        index_factory: str | None = None,
        search_parameters: dict | None = None,
        metric=None,
    ):
        if metric is not None:
            warnings.warn(
                "EmbeddingIndex(metric=...) is deprecated: use distance=...",
                DeprecationWarning,
                stacklevel=2,
            )
            distance = metric
        self.distance = check_distance(distance)
        self._metric = resolve_distance(self.distance)
        if backend not in BACKENDS:
            raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}.")
        if backend == "faiss":
            _search.faiss_module()
        self.backend = backend
        self.index_factory, self.search_parameters = _approximate.check_factory(
            index_factory, search_parameters, backend
        )
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
        new_labels, new_paths, new_meta = check_item_fields(labels, paths, metadata, n)
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
        """The k nearest items of each query (approximate with an ``index_factory``), nearest first.

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
        if self.index_factory is not None:
            approximate = self._approximate_index()
            indices, scores = _approximate.search(q, approximate, k, self._metric)
        elif self.backend == "faiss":
            if self._backend_cache is None:
                self._backend_cache = _search.faiss_index(self.embeddings, self._dim, self._metric)
            indices, scores = _search.search_faiss(q, self._backend_cache, k, self._metric)
        elif self.backend == "keras":
            if self._backend_cache is None:  # device-side copy of the items, built once
                self._backend_cache = _search.keras_items(self.embeddings, self._metric)
            indices, scores = _search.search_keras(
                q, self._backend_cache, k, self._metric, self.chunk_size
            )
        else:
            indices, scores = _search.search_exact(
                q, self.embeddings, k, self._metric, self.chunk_size
            )
        labels, paths, found = self.labels, self.paths, np.maximum(indices, 0)  # -1: not found
        return SearchResult(
            indices=indices,
            scores=scores,
            labels=None if labels is None else _search.fill_missing(labels[found], indices),
            paths=None if paths is None else _search.fill_missing(paths[found], indices),
            metadata=None
            if self._metadata is None
            else [[self._metadata[i] if i >= 0 else None for i in row] for row in indices],
            higher_is_closer=is_similarity(self._metric),
        )

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
            "distance": _header_distance(self.distance),
            "backend": self.backend,
            "chunk_size": self.chunk_size,
            "dim": self._dim,
            "size": self._size,
            "has_labels": labels is not None,
            "has_paths": paths is not None,
            "metadata": self._metadata,
            "index_factory": self.index_factory,
            "search_parameters": self.search_parameters,
        }
        arrays = {"header": np.asarray(json.dumps(header)), "embeddings": self.embeddings}
        if self.index_factory is not None and self._size:  # the built faiss index, as bytes
            arrays["faiss_index"] = _approximate.to_array(self._approximate_index())
        if labels is not None:
            arrays["labels"] = labels
        if paths is not None:
            arrays["paths"] = paths
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path, backend: str | None = None) -> EmbeddingIndex:
        """Reads an index written by :meth:`save` (``np.load(allow_pickle=False)``).

        Args:
            path: the ``.npz`` file.
            backend: override the saved backend ("exact", "keras" or "faiss"); a saved
                approximate index is only used with "faiss" (the default when it has one).

        Raises:
            ImportError: the file holds an approximate faiss index and faiss is missing
                (load it with ``backend="exact"`` to search it exactly without faiss).
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
                approximate = data["faiss_index"] if "faiss_index" in data.files else None
        except (KeyError, ValueError, OSError, json.JSONDecodeError):
            raise ValueError(
                f"EmbeddingIndex.load: {path} is not an EmbeddingIndex file."
            ) from None
        if header["version"] > FORMAT_VERSION:
            raise ValueError(
                f"EmbeddingIndex.load: {path} has format version {header['version']}; this "
                f"embedding_net reads up to {FORMAT_VERSION}."
            )
        backend = backend or header["backend"]
        factory = header.get("index_factory") if backend == "faiss" else None
        index = cls(
            distance=_loaded_distance(header, path),
            backend=backend,
            chunk_size=header["chunk_size"],
            index_factory=factory,
            search_parameters=header.get("search_parameters") if factory else None,
        )
        if header["size"]:
            index.add(embeddings, labels=labels, paths=paths, metadata=header["metadata"])
        else:
            index._dim = header["dim"]
        if factory is not None and approximate is not None:
            index._backend_cache = _approximate.from_array(approximate, index.search_parameters)
        return index

    def _approximate_index(self):
        """The faiss index of ``index_factory``, built now when no search has built it."""
        if self._backend_cache is None:
            self._backend_cache = _approximate.build(
                self.embeddings, self.index_factory, self._metric, self.search_parameters
            )
        return self._backend_cache

    def __repr__(self) -> str:
        return (
            f"EmbeddingIndex(size={self._size}, dim={self._dim}, distance={self.distance!r}, "
            f"backend={self.backend!r}"
            + (f", index_factory={self.index_factory!r})" if self.index_factory else ")")
        )


def _header_distance(distance):
    """The JSON form of a distance: names stay strings, objects become their Keras config."""
    if isinstance(distance, str):
        return distance
    from embedding_net.distances import serialize_distance

    return serialize_distance(distance)


def _loaded_distance(header: dict, path: str):
    """The distance of a saved header; a format-1 ``"cosine"`` index was ``1 - cos``."""
    distance = header["distance"]
    if isinstance(distance, dict):
        from embedding_net.distances import deserialize_distance

        return deserialize_distance(distance)
    if header["version"] < 2 and distance == "cosine":
        logger.info(
            "%s: an index of format 1 with distance 'cosine' ranks and reports 1 - cos: "
            "loaded as distance 'angular' (thresholds on it stay distances, same = d <= t)",
            path,
        )
        return "angular"
    return distance


def __getattr__(name: str):
    # build_index_from_folder lives in embedding_net.evaluation.indexing (imported lazily: it
    # imports this module)
    if name == "build_index_from_folder":
        from embedding_net.evaluation.indexing import build_index_from_folder

        return build_index_from_folder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
