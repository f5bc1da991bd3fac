"""The distance a SiameseModel / TripletModel trains with (shared validation)."""

from __future__ import annotations

import warnings

from embedding_net.distances import AngularDistance, EuclideanDistance, get_distance
from embedding_net.layers import PAIR_DISTANCES


def training_distance(distance: str, owner: str) -> str:
    """Validate the ``distance=`` of a pair / triplet model; returns the name to use.

    The contrastive and triplet margins need a distance (smaller = closer), so similarities
    (``"cosine-similarity"``, ``"dot"``) are refused. ``"cosine"`` meant the distance
    ``1 - cos`` for these models before the package had one distance vocabulary: it is mapped
    to ``"angular"`` with a ``DeprecationWarning`` (saved models keep their numbers).

    Raises:
        ValueError: not a name of :data:`embedding_net.layers.PAIR_DISTANCES`, or a similarity.
    """
    if distance == "cosine":
        warnings.warn(
            f"{owner}(distance='cosine') is deprecated: it trains with the distance 1 - cos, "
            "which is 'angular' in embedding_net.distances ('cosine' is the similarity); "
            "use distance='angular'",
            DeprecationWarning,
            stacklevel=3,
        )
        return "angular"
    if distance not in PAIR_DISTANCES:
        raise ValueError(f"distance={distance!r} is not one of {PAIR_DISTANCES}")
    if get_distance(distance).is_inverted:
        raise ValueError(
            f"{owner}: distance={distance!r} is a similarity; the margin loss needs a distance "
            "('euclidean', 'squared_euclidean' or 'angular')"
        )
    return distance


def similarity_of_distance(d, distance: str, normalized: bool):
    """A similarity score from pair distances ``d`` (numpy): ``1 - d`` for the angular
    distance, ``1 - d^2 / 2`` (the cosine) for the L2 distance of l2-normalised embeddings,
    ``1 / (1 + d)`` otherwise."""
    kind = type(get_distance(distance))
    if kind is AngularDistance:
        return 1.0 - d
    if kind is EuclideanDistance and normalized:
        return 1.0 - d * d / 2.0
    return 1.0 / (1.0 + d)
