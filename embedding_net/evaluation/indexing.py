"""Fill an :class:`~embedding_net.evaluation.EmbeddingIndex` from image records or a folder.

Used by ``embedding-net encode``, the app's index files and user code: records are loaded with
:func:`~embedding_net.evaluation.validation_sets.load_record_images` (unreadable images
skipped with a warning), encoded once, and added with their labels, paths and metadata.
"""

from __future__ import annotations

import numpy as np

from embedding_net.evaluation.index import EmbeddingIndex

__all__ = ["build_index_from_folder", "build_index_from_records"]


def build_index_from_records(
    network,
    records: list,
    image_size,
    batch_size: int = 64,
    distance="euclidean",
    backend: str = "exact",
    flip: bool = False,
) -> tuple[EmbeddingIndex, list]:
    """Embeds ``ImageRecord`` s into an :class:`EmbeddingIndex`.

    Args:
        network: model with ``encode`` / ``predict``, or a callable on uint8 image batches.
        records: ``ImageRecord`` s (``path``, ``label``, ``metadata``).
        image_size: (height, width) the network expects.
        batch_size: images per forward pass.
        distance: distance name or ``Distance`` of the index (see
            :mod:`embedding_net.evaluation.scores`).
        backend: "exact", "keras" or "faiss".
        flip: flip test-time augmentation (see :func:`encode_with_flip`).

    Returns:
        ``(index, kept)``: the filled index and the records it holds (readable ones, in order).

    Raises:
        ValueError: no record is readable.
    """
    from embedding_net.evaluation.encoding import encode_images, encode_with_flip
    from embedding_net.evaluation.validation_sets import load_record_images

    images, kept_rows = load_record_images(records, tuple(image_size))
    if len(kept_rows) == 0:
        raise ValueError("build_index_from_records: no readable image")
    kept = [records[i] for i in kept_rows]
    if flip:
        embeddings = encode_with_flip(network, images, batch_size)
    else:
        embeddings = encode_images(network, images, batch_size)
    index = EmbeddingIndex(distance=distance, backend=backend)
    index.add(
        embeddings,
        labels=np.asarray([str(r.label) for r in kept]),
        paths=[r.path for r in kept],
        metadata=[dict(r.metadata) for r in kept],
    )
    return index, kept


def build_index_from_folder(
    network,
    folder,
    image_size,
    batch_size: int = 64,
    distance="euclidean",
    backend: str = "exact",
    flip: bool = False,
) -> EmbeddingIndex:
    """Embeds every image of a class-folder tree into an :class:`EmbeddingIndex`.

    ``folder/<class>/<image>`` (or ``folder/<split>/<class>/<image>``) is listed with
    :func:`embedding_net.data.list_class_folders`; labels are the class folder names, paths the
    image files, metadata the listing's metadata (see :func:`build_index_from_records`).

    Returns:
        the filled :class:`EmbeddingIndex`.
    """
    from embedding_net.data import list_class_folders

    records = list_class_folders(folder)
    try:
        index, _ = build_index_from_records(
            network, records, image_size, batch_size, distance, backend, flip
        )
    except ValueError:
        raise ValueError(f"build_index_from_folder: no readable image under {folder}.") from None
    return index
