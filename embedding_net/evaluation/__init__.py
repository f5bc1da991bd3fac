"""Evaluation in numpy: re-id CMC/mAP/mINP, face verification (LFW folds), retrieval and kNN
metrics, an embedding index (exact / keras / faiss search, one-file save), re-ranking, flip
test-time augmentation, the held-out protocols (:mod:`~embedding_net.evaluation.protocols`) and
pair scores / thresholds in the package's one distance vocabulary
(:mod:`~embedding_net.evaluation.scores`).

Every function accepts numpy arrays or backend tensors and returns plain Python / numpy values.
See docs/evaluation.md for the exact protocols and definitions.
"""

from embedding_net.evaluation.encoding import encode_images, encode_with_flip
from embedding_net.evaluation.index import EmbeddingIndex, SearchResult
from embedding_net.evaluation.indexing import build_index_from_folder, build_index_from_records
from embedding_net.evaluation.protocols import (
    PROTOCOLS,
    Protocol,
    build_validation_set,
    evaluate_protocol,
    get_protocol,
)
from embedding_net.evaluation.reid import reid_metrics, reid_metrics_from_distances
from embedding_net.evaluation.reranking import average_query_expansion, k_reciprocal_rerank
from embedding_net.evaluation.retrieval import clustering_metrics, knn_accuracy, retrieval_metrics
from embedding_net.evaluation.scores import is_match, is_similarity, pair_scores
from embedding_net.evaluation.thresholds import balanced_threshold, estimate_threshold
from embedding_net.evaluation.validation_sets import ValidationSet
from embedding_net.evaluation.verification import (
    best_threshold,
    evaluate_lfw_pairs,
    lfw_block_folds,
    verification_metrics,
)

__all__ = [
    "PROTOCOLS",
    "EmbeddingIndex",
    "Protocol",
    "SearchResult",
    "ValidationSet",
    "average_query_expansion",
    "balanced_threshold",
    "best_threshold",
    "build_index_from_folder",
    "build_index_from_records",
    "build_validation_set",
    "estimate_threshold",
    "evaluate_protocol",
    "get_protocol",
    "is_match",
    "is_similarity",
    "clustering_metrics",
    "encode_images",
    "encode_with_flip",
    "evaluate_lfw_pairs",
    "k_reciprocal_rerank",
    "knn_accuracy",
    "lfw_block_folds",
    "pair_scores",
    "reid_metrics",
    "reid_metrics_from_distances",
    "retrieval_metrics",
    "verification_metrics",
]
