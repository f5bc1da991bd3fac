"""Keras callbacks that evaluate embeddings during training (metrics -> logs + TensorBoard)."""

from embedding_net.callbacks.evaluation import RetrievalEvaluation, VerificationEvaluation

__all__ = ["RetrievalEvaluation", "VerificationEvaluation"]
