"""Keras callbacks: evaluate embeddings during training (metrics -> logs + TensorBoard), train
to a wall-clock budget."""

from embedding_net.callbacks.budget import TimeBudget, TimeCosineSchedule
from embedding_net.callbacks.evaluation import RetrievalEvaluation, VerificationEvaluation

__all__ = ["RetrievalEvaluation", "TimeBudget", "TimeCosineSchedule", "VerificationEvaluation"]
