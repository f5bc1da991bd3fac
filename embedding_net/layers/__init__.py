"""Layers for embedding networks: preprocessing, pooling, normalisation, siamese heads."""

from embedding_net.layers.normalization import FusedBatchNormalization, L2Normalize
from embedding_net.layers.pair import (
    PAIR_DISTANCES,
    AbsoluteDifferenceHead,
    PairDistance,
    paired_distance,
)
from embedding_net.layers.pooling import GeneralizedMeanPooling, GridPooling
from embedding_net.layers.preprocessing import PREPROCESSING_MODES, ImagePreprocessing

__all__ = [
    "PAIR_DISTANCES",
    "PREPROCESSING_MODES",
    "AbsoluteDifferenceHead",
    "FusedBatchNormalization",
    "GeneralizedMeanPooling",
    "GridPooling",
    "ImagePreprocessing",
    "L2Normalize",
    "PairDistance",
    "paired_distance",
]
