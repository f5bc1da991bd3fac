"""Value constraints declared once and checked wherever the value arrives.

A constraint says what a value must be and words the problem when it is not. The config
schema attaches them to its dataclass fields (:func:`constrained`), the loader checks every
field that has one and names the file and the key; classes taking the same values as
arguments (``BaseNetwork(embedding_dim=, dropout=)``) check them with the same objects and
name the argument::

    from embedding_net.constraints import DROPOUT, Bounds

    DROPOUT.problem(1.5)          # 'must be in [0, 1), got 1.5'
    DROPOUT.check("dropout", 0.2)  # passes; 1.5 raises ValueError("dropout must be in ...")
    Bounds(1, or_null=True).problem(0)   # 'must be >= 1 or null, got 0'

Constraints only look at values of the right type (the loader checks types first) and skip
``None`` (a field that allows ``None`` says so in its type). Plain Python, no Keras: the
config can be read without importing a backend.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "DROPOUT",
    "EMBEDDING_DIM",
    "LAYER_INDEX",
    "NECKS",
    "POOLINGS",
    "Bounds",
    "Constraint",
    "OneOf",
    "PositivePair",
    "Rule",
    "constrained",
    "field_constraint",
]

#: pooling of the backbone's feature map (``BaseNetwork(pooling=)``, ``model.pooling``)
POOLINGS = ("avg", "max", "gem")
#: layer after the embedding (``BaseNetwork(neck=)``, ``model.neck``)
NECKS = ("none", "batchnorm", "bnneck")


class Constraint(abc.ABC):
    """What a value must be. Subclasses implement :meth:`problem`."""

    @abc.abstractmethod
    def problem(self, value) -> str | None:
        """The problem with ``value`` in words (``"must be >= 1, got 0"``), or None."""

    def check(self, name: str, value, optional: bool = False) -> None:
        """Raise ``ValueError("<name> <problem>")`` when ``value`` breaks the constraint
        (``None`` passes when ``optional``)."""
        problem = None if optional and value is None else self.problem(value)
        if problem is not None:
            raise ValueError(f"{name} {problem}")


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class Bounds(Constraint):
    """A number within bounds: ``Bounds(0, 1)`` is ``[0, 1)``, ``Bounds(1)`` is ``>= 1``.

    Args:
        low, high: the bounds; None: unbounded on that side.
        low_inclusive, high_inclusive: whether the bound itself is allowed.
        integer: the value must be a whole number.
        finite: refuse ``inf`` (``nan`` is always refused: it compares false).
        or_null: the message says ``or null`` (the field also accepts None).
    """

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = False
    integer: bool = False
    finite: bool = False
    or_null: bool = False

    def _expected(self) -> str:
        kind = "an integer " if self.integer else ""
        if self.low is not None and self.high is not None:
            left = "[" if self.low_inclusive else "("
            right = "]" if self.high_inclusive else ")"
            text = f"must be {kind}in {left}{self.low:g}, {self.high:g}{right}"
        elif self.low is not None:
            text = f"must be {kind}{'>=' if self.low_inclusive else '>'} {self.low:g}"
        else:
            text = f"must be {kind}{'<=' if self.high_inclusive else '<'} {self.high:g}"
        return text + (" or null" if self.or_null else "")

    def problem(self, value) -> str | None:
        x = _number(value)
        ok = x is not None and not math.isnan(x)
        ok = ok and not (self.integer and (math.isinf(x) or x != int(x)))
        ok = ok and not (self.finite and math.isinf(x))
        if ok and self.low is not None:
            ok = x >= self.low if self.low_inclusive else x > self.low
        if ok and self.high is not None:
            ok = x <= self.high if self.high_inclusive else x < self.high
        return None if ok else f"{self._expected()}, got {value!r}"


@dataclasses.dataclass(frozen=True)
class OneOf(Constraint):
    """One of a few values: ``OneOf((0, 1, 2))`` -> ``"must be 0, 1 or 2, got 3"``."""

    values: tuple

    def problem(self, value) -> str | None:
        if value in self.values and not isinstance(value, bool):
            return None
        *first, last = [repr(v) for v in self.values]
        listed = f"{', '.join(first)} or {last}" if first else last
        return f"must be {listed}, got {value!r}"


@dataclasses.dataclass(frozen=True)
class PositivePair(Constraint):
    """Two positive integers: ``PositivePair("height, width")`` ->
    ``"expected [height, width] of positive integers, got [0, 4]"``."""

    parts: str

    def problem(self, value) -> str | None:
        ok = isinstance(value, (list, tuple)) and len(value) == 2
        ok = ok and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in value)
        if ok:
            return None
        return f"expected [{self.parts}] of positive integers, got {value}"


@dataclasses.dataclass(frozen=True)
class Rule(Constraint):
    """Any test, with its own words: ``Rule(bool, "is required")``. ``{value}`` in the
    message is replaced by the value (``repr``)."""

    test: Callable[[Any], bool]
    message: str

    def problem(self, value) -> str | None:
        return None if self.test(value) else self.message.format(value=repr(value))


#: ``BaseNetwork(embedding_dim=)``, ``model.embedding_dim``
EMBEDDING_DIM = Bounds(1, integer=True)
#: ``BaseNetwork(dropout=)``, ``model.dropout``
DROPOUT = Bounds(0, 1)
#: a layer given by name or by index (``model.unfreeze_from``): an index is >= 0
LAYER_INDEX = Rule(
    lambda v: not isinstance(v, int) or v >= 0, "a layer index must be >= 0, got {value}"
)


def constrained(default=dataclasses.MISSING, check: Constraint | None = None, *, factory=None):
    """A dataclass field carrying a constraint (read back by :func:`field_constraint`).

    Args:
        default: the field's default value.
        check: the :class:`Constraint` its values must meet.
        factory: ``default_factory`` instead of ``default`` (lists).
    """
    metadata = {"constraint": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_constraint(field: dataclasses.Field) -> Constraint | None:
    """The constraint a dataclass field was declared with (None: none)."""
    return field.metadata.get("constraint")
