"""Evaluation in numpy: re-id CMC/mAP/mINP, face verification (LFW folds), retrieval and kNN
metrics, an embedding index (exact / keras / faiss search, one-file save), re-ranking and
flip test-time augmentation.

Every function accepts numpy arrays or backend tensors and returns plain Python / numpy values.
See docs/evaluation.md for the exact protocols and definitions.
"""

from embedding_net.evaluation.encoding import encode_images, encode_with_flip
from embedding_net.evaluation.index import EmbeddingIndex, SearchResult, build_index_from_folder
from embedding_net.evaluation.reid import reid_metrics, reid_metrics_from_distances
from embedding_net.evaluation.reranking import average_query_expansion, k_reciprocal_rerank
from embedding_net.evaluation.retrieval import clustering_metrics, knn_accuracy, retrieval_metrics
from embedding_net.evaluation.verification import (
    best_threshold,
    evaluate_lfw_pairs,
    lfw_block_folds,
    pair_scores,
    verification_metrics,
)

__all__ = [
    "EmbeddingIndex",
    "SearchResult",
    "average_query_expansion",
    "best_threshold",
    "build_index_from_folder",
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
