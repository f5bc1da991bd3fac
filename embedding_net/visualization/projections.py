"""2-D projection backends of :func:`~embedding_net.visualization.tsne_embed` (openTSNE's
FFT-accelerated t-SNE, scikit-learn's Barnes-Hut t-SNE), UMAP, and the neighbour-preservation
score used to compare them.

openTSNE (``pip install embedding-net[tsne]``) and umap-learn (``pip install
embedding-net[umap]``) are optional: ``method="auto"`` uses openTSNE when it is installed and
scikit-learn otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np

from embedding_net.visualization.inputs import check_embeddings

logger = logging.getLogger(__name__)

TSNE_METHODS = ("auto", "sklearn", "opentsne")


def resolve_tsne_method(method: str) -> str:
    """``"sklearn"`` or ``"opentsne"`` for a ``method`` of :data:`TSNE_METHODS`.

    Raises:
        ValueError: an unknown ``method``.
        ImportError: ``method="opentsne"`` without openTSNE installed.
    """
    if method not in TSNE_METHODS:
        raise ValueError(f"method must be one of {TSNE_METHODS}, got {method!r}")
    available = importlib.util.find_spec("openTSNE") is not None
    if method == "opentsne" and not available:
        raise ImportError(
            "tsne_embed(method='opentsne') needs openTSNE: pip install embedding-net[tsne] "
            "(or use method='sklearn')."
        )
    if method == "auto":
        return "opentsne" if available else "sklearn"
    return method


def opentsne_2d(points: np.ndarray, perplexity: float, seed: int, max_iter: int, n_jobs: int):
    """openTSNE of ``points`` (N, D) with sklearn's iteration budget: float32 (N, 2).

    ``max_iter`` counts the early-exaggeration phase as scikit-learn does (250 iterations, or
    half of ``max_iter`` when that is smaller); openTSNE picks Barnes-Hut below 10,000 points
    and FFT-interpolated gradients from 10,000 on, exact neighbours below 1,000 points and
    Annoy's (seeded) approximate ones above.
    """
    from openTSNE import TSNE

    exaggeration_iter = min(250, max_iter // 2)
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        early_exaggeration_iter=exaggeration_iter,
        n_iter=max_iter - exaggeration_iter,
        initialization="pca" if points.shape[0] > 2 else "random",
        n_jobs=n_jobs,
        random_state=seed,
    )
    return np.asarray(tsne.fit(np.ascontiguousarray(points, dtype=np.float64)), np.float32)


def umap_embed(
    embeddings: Any,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    pca_components: int | None = 50,
) -> np.ndarray:
    """Project embeddings to 2-D with UMAP (umap-learn) after the same PCA as ``tsne_embed``.

    UMAP keeps more of the global layout than t-SNE (distances between clusters mean more) and
    is faster on large N. With a ``seed`` umap-learn runs single-threaded and is reproducible.

    Args:
        embeddings: float array or tensor (N, D), finite, N >= 3.
        n_neighbors: size of the local neighbourhood; lowered to N - 1 for small N.
        min_dist: how tightly points may be packed in 2-D (0 to 1).
        seed: random seed of PCA and UMAP.
        pca_components: dimensions kept by the PCA pre-reduction, or None to skip it.

    Returns:
        float32 array (N, 2).

    Raises:
        ValueError: empty, non-2-D or non-finite ``embeddings``, fewer than 3 points, or bad
            ``n_neighbors`` / ``min_dist`` / ``pca_components``.
        ImportError: umap-learn is not installed.
    """
    points = check_embeddings(embeddings)
    if points.shape[0] < 3:
        raise ValueError(f"umap_embed needs at least 3 embeddings, got {points.shape[0]}")
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be >= 2, got {n_neighbors}")
    if not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist must be in [0, 1], got {min_dist}")
    if pca_components is not None and pca_components < 2:
        raise ValueError(f"pca_components must be >= 2 or None, got {pca_components}")
    if importlib.util.find_spec("umap") is None:
        raise ImportError("umap_embed needs umap-learn: pip install embedding-net[umap]")
    if pca_components is not None and points.shape[1] > pca_components < points.shape[0]:
        from sklearn.decomposition import PCA

        points = PCA(n_components=pca_components, random_state=seed).fit_transform(points)
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, points.shape[0] - 1),
        min_dist=min_dist,
        random_state=seed,
        n_jobs=1,  # umap-learn runs seeded UMAP single-threaded anyway
        init="spectral" if points.shape[0] > 10 else "random",
    )
    return np.asarray(reducer.fit_transform(points), dtype=np.float32)


def neighbour_preservation(embeddings: Any, points_2d: Any, k: int = 10) -> float:
    """Mean share of each point's ``k`` nearest neighbours (Euclidean, in ``embeddings``) that
    are also among its ``k`` nearest in ``points_2d``: 1.0 keeps every neighbourhood.

    Args:
        embeddings: float array (N, D).
        points_2d: float array (N, 2) (any (N, d) works).
        k: neighbours per point, 1 <= k < N.

    Returns:
        float in [0, 1].

    Raises:
        ValueError: mismatched lengths, non-finite values or a bad ``k``.
    """
    from sklearn.neighbors import NearestNeighbors

    high = check_embeddings(embeddings)
    low = check_embeddings(points_2d, "points_2d")
    if high.shape[0] != low.shape[0]:
        raise ValueError(f"embeddings has {high.shape[0]} rows but points_2d has {low.shape[0]}")
    if not 1 <= k < high.shape[0]:
        raise ValueError(f"k must be in [1, {high.shape[0] - 1}], got {k}")
    # kneighbors() without queries leaves each point out of its own neighbours
    near_high = NearestNeighbors(n_neighbors=k).fit(high).kneighbors(return_distance=False)
    near_low = NearestNeighbors(n_neighbors=k).fit(low).kneighbors(return_distance=False)
    kept = [len(set(a) & set(b)) for a, b in zip(near_high, near_low)]
    return float(np.sum(kept) / (k * high.shape[0]))
