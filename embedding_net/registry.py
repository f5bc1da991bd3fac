"""The one name registry used for losses, miners and distances.

Names are matched case-insensitively with ``-`` and ``_`` alike (``"Batch_Hard"`` is
``"batch-hard"``); a registered class is also found by its class name
(``"TripletSemiHardLoss"``). Unknown names raise a ``ValueError`` that lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable


def normalize_name(name: str) -> str:
    """The lookup key of ``name``: stripped, lower case, ``_`` replaced by ``-``."""
    return name.strip().lower().replace("_", "-")


class Registry:
    """Names -> factories (classes or zero-argument callables) of one kind of object.

    Args:
        kind: what the registry holds, for error messages (``"loss"``, ``"miner"``).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable] = {}
        self._names: dict[str, str] = {}  # key -> the spelling it was registered with

    def register(self, name: str, factory: Callable | None = None, *, aliases=()):
        """Register ``factory`` under ``name`` (and ``aliases``).

        Usable as ``registry.register("batch-hard", BatchHardMiner)`` or as a class decorator
        ``@registry.register("batch-hard")``. Registering a name again replaces the entry.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"register: a {self.kind} name must be a non-empty string, got {name!r}"
            )

        def add(obj):
            if not callable(obj):
                raise ValueError(f"register: the {self.kind} {name!r} must be a class or callable")
            for spelling in (name, *aliases):
                key = normalize_name(spelling)
                if self._entries.get(key) is not obj:
                    self._names[key] = spelling  # a replaced entry takes the new spelling
                self._entries[key] = obj
            return obj

        return add if factory is None else add(factory)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (not its aliases); a missing name raises the unknown-name error."""
        key = normalize_name(name)
        if key not in self._entries:
            raise self.unknown(name)
        del self._entries[key], self._names[key]

    def names(self) -> list[str]:
        """The registered names, sorted (each in the spelling it was registered with)."""
        return sorted(self._names.values(), key=str.lower)

    def lookup(self, name: str) -> Callable | None:
        """The factory registered under ``name`` or with that class name; None if none."""
        key = normalize_name(name)
        if key in self._entries:
            return self._entries[key]
        for obj in self._entries.values():
            if getattr(obj, "__name__", "").lower() == name.strip().lower():
                return obj
        return None

    def unknown(self, name, also: str = "") -> ValueError:
        """The error for an unknown ``name``: it lists the valid names (and ``also``)."""
        extra = f", {also}" if also else ""
        return ValueError(f"Unknown {self.kind} {name!r}: expected one of {self.names()}{extra}")

    def create(self, name: str, also: str = "", **kwargs):
        """Build the object registered under ``name`` with ``kwargs``.

        Raises:
            ValueError: unknown name (see :meth:`unknown`).
        """
        factory = self.lookup(name)
        if factory is None:
            raise self.unknown(name, also)
        return factory(**kwargs)

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None
