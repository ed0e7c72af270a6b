"""The one registry type behind every plug-in: protocols, backend kinds, sources, judges, executors
(`pipeline`, which re-exports it as `pipeline.registry.Registry`) and groupings (`analysis.data.groupings`).
It sits in analysis's data layer, pure, so both layers can use it: analysis never imports pipeline.

A plug-in registers under a name once (a second registration of the name is an error, not a silent
overwrite) and carries everything its callers need to know about it as fields, so no caller ever
branches on a plug-in's name. Lookups of an unknown name are one line listing the known names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named plug-ins of one kind, in registration order.

    Args:
        kind: what the plug-ins are, in words ("protocol", "backend"), for error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add `item` under `name`.

        Args:
            name: the name users and files give.
            item: the plug-in.

        Returns:
            `item`, so a registration can sit where the plug-in is defined.

        Raises:
            ValueError: `name` is already registered.
        """
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove `name` (a test's throwaway plug-in); an unknown name is an error."""
        self.get(name)
        del self._items[name]

    def get(self, name: str) -> T:
        """The plug-in registered as `name`.

        Raises:
            ValueError: one line naming the unknown name and every known one.
        """
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self._items)}") from None

    __getitem__ = get

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def items(self) -> list[tuple[str, T]]:
        """(name, plug-in) pairs, in registration order."""
        return list(self._items.items())

    def values(self) -> list[T]:
        """The plug-ins, in registration order."""
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
