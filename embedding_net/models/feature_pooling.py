"""Global pooling of a backbone's output before the embedding layer of a BaseNetwork."""

from __future__ import annotations

import keras

from embedding_net.layers import GeneralizedMeanPooling, GridPooling


def pool_features(x, pooling: str, pooling_grid: tuple, input_shape: tuple):
    """Pool the backbone's output ``(batch, h, w, c)`` (a vector ``(batch, c)`` passes)."""
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
