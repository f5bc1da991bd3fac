"""The head of a BaseNetwork: pooling of the backbone's output (feature map, token sequence
or vector), then the embedding layer, neck and L2 normalisation."""

from __future__ import annotations

import keras

from embedding_net.layers import GeneralizedMeanPooling, GridPooling, L2Normalize
from embedding_net.models.hub import TokenPooling


def pool_features(
    x,
    pooling: str,
    pooling_grid: tuple,
    input_shape: tuple,
    token_pooling: str = "cls",
    prefix_tokens: int = 1,
):
    """Pool the backbone's output: a feature map ``(batch, h, w, c)`` with ``pooling`` (over
    ``pooling_grid`` cells), a token sequence ``(batch, tokens, c)`` with ``token_pooling``
    (:class:`~embedding_net.models.hub.TokenPooling`); a vector ``(batch, c)`` passes."""
    if len(x.shape) == 3:
        x = TokenPooling(token_pooling, prefix_tokens, name="token_pooling")(x)
    if len(x.shape) == 4:
        if pooling_grid != (1, 1):
            map_h, map_w = x.shape[1], x.shape[2]
            if (map_h is not None and pooling_grid[0] > map_h) or (
                map_w is not None and pooling_grid[1] > map_w
            ):
                raise ValueError(
                    f"pooling_grid={pooling_grid} is finer than the backbone's "
                    f"{map_h} x {map_w} feature map for input_shape {input_shape}"
                )
            return GridPooling(pooling_grid, pooling, name="pooling")(x)
        if pooling == "avg":
            return keras.layers.GlobalAveragePooling2D(name="pooling")(x)
        if pooling == "max":
            return keras.layers.GlobalMaxPooling2D(name="pooling")(x)
        return GeneralizedMeanPooling(name="pooling")(x)
    if pooling_grid != (1, 1):
        raise ValueError(
            f"pooling_grid={pooling_grid} needs a backbone with a feature map "
            f"(batch, h, w, c); this one outputs shape {x.shape}"
        )
    if len(x.shape) != 2:
        raise ValueError(
            f"the backbone must output (batch, h, w, c), (batch, tokens, c) or (batch, c), got shape {x.shape}"
        )
    return x


def embedding_head(x, dropout: float, embedding_dim, neck: str, normalize: bool):
    """``[Dropout] -> [Dense(embedding_dim)] -> [BatchNorm neck] -> L2Normalize | linear`` on
    pooled features ``(batch, c)``; returns ``(batch, embedding_dim or c)``."""
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    if embedding_dim is not None:
        x = keras.layers.Dense(int(embedding_dim), name="embedding")(x)
    if neck == "batchnorm":
        x = keras.layers.BatchNormalization(name="neck")(x)
    elif neck == "bnneck":
        x = keras.layers.BatchNormalization(center=False, name="neck")(x)
    if normalize:
        return L2Normalize(name="l2_normalize")(x)
    return keras.layers.Activation("linear", dtype="float32", name="embeddings")(x)
