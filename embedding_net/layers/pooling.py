"""Pooling layers for embedding heads."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="embedding_net")
class GeneralizedMeanPooling(keras.layers.Layer):
    """Generalized-mean (GeM) pooling (Radenovic et al. 2018).

    ``f_c = (mean_{h,w} max(x_hwc, eps)^p)^(1/p)``; ``p=1`` is average pooling and
    ``p -> inf`` approaches max pooling. ``p`` is learned when ``trainable_p`` is true.

    Args:
        p: initial exponent, > 0.
        trainable_p: learn ``p`` with the rest of the network.
        epsilon: clamp for the activations (keeps the power finite for zeros).

    Input: ``(batch, height, width, channels)``. Output: ``(batch, channels)``.
    """

    def __init__(self, p: float = 3.0, trainable_p: bool = True, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if p <= 0:
            raise ValueError(f"GeneralizedMeanPooling: p must be > 0, got {p}")
        self.initial_p = float(p)
        self.trainable_p = bool(trainable_p)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "GeneralizedMeanPooling expects a 4D input (batch, height, width, channels), "
                f"got shape {input_shape}"
            )
        self.p = self.add_weight(
            name="p",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_p),
            trainable=self.trainable_p,
        )

    def call(self, inputs):
        x = ops.maximum(ops.cast(inputs, "float32"), self.epsilon)
        p = ops.cast(self.p, "float32")
        pooled = ops.power(ops.mean(ops.power(x, p), axis=(1, 2)), 1.0 / p)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(p=self.initial_p, trainable_p=self.trainable_p, epsilon=self.epsilon)
        return config


GRID_POOLINGS = ("avg", "max", "gem")


def grid_cells(size: int, parts: int) -> list[tuple[int, int]]:
    """Adaptive-pooling bounds: ``parts`` ranges ``[floor(i n / parts), ceil((i+1) n / parts))``
    covering ``range(size)`` (neighbours share one index when ``parts`` does not divide
    ``size``)."""
    return [(i * size // parts, -((-(i + 1) * size) // parts)) for i in range(parts)]


@keras.saving.register_keras_serializable(package="embedding_net")
class GridPooling(keras.layers.Layer):
    """Pools each cell of a ``rows x cols`` grid over the feature map and concatenates them.

    ``grid=(2, 1)`` gives the horizontal stripes of part-based re-id models (upper and lower
    body pooled apart, as in PCB, Sun et al. 2018); ``(h, w)`` of the feature map keeps every
    position (a flatten), which suits aligned crops such as faces. The cells follow adaptive
    pooling: cell ``(i, j)`` covers rows ``[floor(i h / rows), ceil((i+1) h / rows))`` and
    likewise for columns. ``grid=(1, 1)`` equals the global pooling of the same kind.

    Args:
        grid: ``(rows, cols)``, each >= 1 and at most the feature map's height / width.
        pooling: ``"avg"``, ``"max"`` or ``"gem"`` (one learned exponent shared by the cells;
            see :class:`GeneralizedMeanPooling`).
        p: initial GeM exponent (> 0). epsilon: GeM activation clamp.

    Input: ``(batch, height, width, channels)``. Output: ``(batch, rows * cols * channels)``,
    cell by cell in row-major order, each cell's ``channels`` together.
    """

    def __init__(
        self,
        grid=(2, 1),
        pooling: str = "avg",
        p: float = 3.0,
        epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid = validate_grid(grid)
        if pooling not in GRID_POOLINGS:
            raise ValueError(f"GridPooling: pooling={pooling!r} is not one of {GRID_POOLINGS}")
        if p <= 0:
            raise ValueError(f"GridPooling: p must be > 0, got {p}")
        self.pooling = pooling
        self.initial_p = float(p)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "GridPooling expects a 4D input (batch, height, width, channels), "
                f"got shape {input_shape}"
            )
        height, width = input_shape[1], input_shape[2]
        rows, cols = self.grid
        if height is None or width is None:
            raise ValueError("GridPooling needs a known feature-map height and width")
        if rows > height or cols > width:
            raise ValueError(
                f"GridPooling: grid {self.grid} is finer than the {height} x {width} feature "
                "map; use at most (height, width)"
            )
        self._row_cells = grid_cells(height, rows)
        self._col_cells = grid_cells(width, cols)
        if self.pooling == "gem":
            self.p = self.add_weight(
                name="p",
                shape=(),
                initializer=keras.initializers.Constant(self.initial_p),
                trainable=True,
            )

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.pooling == "gem":
            p = ops.cast(self.p, "float32")
            x = ops.power(ops.maximum(x, self.epsilon), p)
        cells = []
        for r0, r1 in self._row_cells:
            for c0, c1 in self._col_cells:
                cell = x[:, r0:r1, c0:c1, :]
                if self.pooling == "max":
                    cells.append(ops.max(cell, axis=(1, 2)))
                else:
                    cells.append(ops.mean(cell, axis=(1, 2)))
        pooled = cells[0] if len(cells) == 1 else ops.concatenate(cells, axis=-1)
        if self.pooling == "gem":
            pooled = ops.power(pooled, 1.0 / p)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        rows, cols = self.grid
        return (input_shape[0], None if channels is None else rows * cols * channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            grid=list(self.grid), pooling=self.pooling, p=self.initial_p, epsilon=self.epsilon
        )
        return config


def validate_grid(
    grid, name: str = "grid", parts: str = "rows, cols", optional: bool = False
) -> tuple[int, int] | None:
    """``(rows, cols)`` as two ints >= 1, or a ValueError naming ``name``.

    ``parts`` names the two entries in the message (``"height, width"`` for a size);
    ``optional=True`` lets ``None`` through (returned as is)."""
    if optional and grid is None:
        return None
    try:
        rows, cols = grid
        ok = all(not isinstance(v, bool) and int(v) == v and v >= 1 for v in (rows, cols))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        allowed = " or None" if optional else ""
        raise ValueError(f"{name} must be ({parts}) of positive integers{allowed}, got {grid!r}")
    return int(rows), int(cols)
