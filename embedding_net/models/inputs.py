"""Validation of multi-input model inputs (pairs, triplets) with errors that say what to pass."""

from __future__ import annotations


def check_tuple_inputs(inputs, count: int, model: str, expected: str):
    """Return ``inputs`` as a tuple of ``count`` tensors with the same batch size.

    Raises:
        ValueError: not a tuple/list of ``count`` items, items of different rank, or static
            batch sizes that differ.
    """
    if isinstance(inputs, dict):
        inputs = tuple(inputs.values())
    if not isinstance(inputs, (list, tuple)) or len(inputs) != count:
        got = (
            f"{len(inputs)} inputs" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
        )
        raise ValueError(f"{model} expects inputs {expected} ({count} image batches), got {got}")
    shapes = [tuple(getattr(x, "shape", ())) for x in inputs]
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise ValueError(
            f"{model}: the inputs {expected} must have the same rank, got shapes {shapes}"
        )
    batch = {s[0] for s in shapes if s and s[0] is not None}
    if len(batch) > 1:
        raise ValueError(
            f"{model}: the inputs {expected} must have the same batch size, got shapes {shapes}"
        )
    return tuple(inputs)
