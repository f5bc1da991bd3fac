"""Approximate k-nearest search of :class:`~embedding_net.evaluation.EmbeddingIndex` with a
faiss ``index_factory`` index (``"IVF1024,Flat"``, ``"HNSW32"``, ``"IVF256,PQ16"``, ...).

The faiss index is built on the first search after an ``add`` (IVF indexes are trained on the
items then), and travels through :meth:`EmbeddingIndex.save` as the ``uint8`` array of
``faiss.serialize_index`` inside the ``.npz`` file: no pickle.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation._inputs import l2_normalize
from embedding_net.evaluation._search import faiss_module
from embedding_net.evaluation.scores import needs_normalization, score_kind


def check_factory(index_factory, search_parameters, backend: str):
    """Validated ``(index_factory or None, dict of search parameters)``.

    Raises:
        ValueError: ``index_factory`` with a backend other than "faiss", a non-string
            factory, or parameters that are not a ``{str: number}`` dict.
    """
    parameters = dict(search_parameters or {})
    if index_factory is None:
        if parameters:
            raise ValueError("`search_parameters` needs an `index_factory` (backend='faiss').")
        return None, parameters
    if backend != "faiss":
        raise ValueError(
            f"`index_factory` needs backend='faiss', got backend={backend!r}: an approximate "
            "index is a faiss index."
        )
    if not isinstance(index_factory, str) or not index_factory.strip():
        raise ValueError(
            f"`index_factory` must be a faiss index_factory string such as 'IVF1024,Flat' or "
            f"'HNSW32', got {index_factory!r}."
        )
    for name, value in parameters.items():
        if not isinstance(name, str) or isinstance(value, bool):
            raise ValueError(f"`search_parameters` must map names to numbers, got {name!r}.")
        if not isinstance(value, (int, float)):
            raise ValueError(f"`search_parameters[{name!r}]` must be a number, got {value!r}.")
    return index_factory, parameters


def build(items: np.ndarray, index_factory: str, distance, parameters: dict):
    """The trained faiss index of ``items`` (float32 (n, dim)) for ``index_factory``.

    Raises:
        ValueError: a distance faiss cannot compute, or a factory string faiss rejects (or
            that needs more training points than there are items).
    """
    faiss = faiss_module()
    kind = score_kind(distance)
    if kind is None:
        raise ValueError(
            "EmbeddingIndex(index_factory=...) supports the distances L2, squared-L2, angular, "
            f"cosine and dot, not {distance!r}."
        )
    if needs_normalization(distance):
        items = l2_normalize(items)
    items = np.ascontiguousarray(items, dtype=np.float32)
    metric = faiss.METRIC_L2 if kind in ("L2", "squared-L2") else faiss.METRIC_INNER_PRODUCT
    try:
        index = faiss.index_factory(items.shape[1], index_factory, metric)
        if not index.is_trained:
            index.train(items)
    except RuntimeError as error:
        raise ValueError(
            f"faiss could not build index_factory {index_factory!r} on {items.shape[0]} items of "
            f"dimension {items.shape[1]}: {str(error).strip().splitlines()[-1]}"
        ) from None
    index.add(items)
    apply_parameters(index, parameters)
    return index


def apply_parameters(index, parameters: dict) -> None:
    """Set faiss search parameters (``nprobe``, ``efSearch``, ...) on ``index``.

    Raises:
        ValueError: a parameter the index does not have.
    """
    faiss = faiss_module()
    space = faiss.ParameterSpace()
    for name, value in parameters.items():
        try:
            space.set_index_parameter(index, name, value)
        except RuntimeError:
            raise ValueError(
                f"`search_parameters`: the faiss index {type(index).__name__} has no parameter "
                f"{name!r} (IVF indexes take 'nprobe', HNSW indexes 'efSearch')."
            ) from None


def to_array(index) -> np.ndarray:
    """The faiss index as a uint8 array (``faiss.serialize_index``), storable in an ``.npz``."""
    return np.asarray(faiss_module().serialize_index(index), dtype=np.uint8)


def from_array(array: np.ndarray, parameters: dict):
    """The faiss index of :func:`to_array`, with the search parameters set again."""
    index = faiss_module().deserialize_index(np.ascontiguousarray(array, dtype=np.uint8))
    apply_parameters(index, parameters)
    return index


def search(queries, index, k, distance):
    """Search an approximate index: ``(indices int64 (n, k), scores float32 (n, k))``.

    Rows are nearest first. When the index finds fewer than ``k`` items for a query (an IVF
    index probing too few lists), the missing places hold position -1 and score NaN.
    """
    from embedding_net.evaluation._search import search_faiss

    indices, scores = search_faiss(queries, index, k, distance)
    missing = indices < 0
    if missing.any():
        scores = np.where(missing, np.float32(np.nan), scores)
    return indices, scores
