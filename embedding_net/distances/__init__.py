"""Pairwise distances and similarities (``keras.ops`` only, every backend).

Functions return matrices; :class:`Distance` objects wrap them for losses and miners
(``distance=`` argument, serialisable, ``is_inverted`` for similarities).
"""

from embedding_net.distances.functional import (
    angular_distance,
    angular_distance_matrix,
    cosine_similarity,
    cosine_similarity_matrix,
    euclidean_distance_matrix,
    l2_normalize,
    lp_distance_matrix,
    pairwise_distance,
)
from embedding_net.distances.objects import (
    AngularDistance,
    CosineSimilarity,
    Distance,
    DotProductSimilarity,
    EuclideanDistance,
    FunctionDistance,
    LpDistance,
    SquaredEuclideanDistance,
    available_distances,
    deserialize_distance,
    get_distance,
    register_distance,
    serialize_distance,
)

__all__ = [
    "AngularDistance",
    "CosineSimilarity",
    "Distance",
    "DotProductSimilarity",
    "EuclideanDistance",
    "FunctionDistance",
    "LpDistance",
    "SquaredEuclideanDistance",
    "angular_distance",
    "angular_distance_matrix",
    "available_distances",
    "cosine_similarity",
    "cosine_similarity_matrix",
    "deserialize_distance",
    "euclidean_distance_matrix",
    "get_distance",
    "l2_normalize",
    "lp_distance_matrix",
    "pairwise_distance",
    "register_distance",
    "serialize_distance",
]
