"""A dict with a size bound, for values derived from what clients send (model names, label sets).

The policy is least recently *inserted* out first: a hit costs one dict lookup (no reordering on the
hot path), and a full cache drops its oldest entry to make room, so a flood of one-off names can push
out old entries but never grow the process.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    __slots__ = ("_items", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a cache holds at least one entry")
        self.limit = limit
        self._items: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def put(self, key: K, value: V) -> V:
        """Store `value` (dropping the oldest entry when full) and return it."""
        items = self._items
        if key not in items and len(items) >= self.limit:
            del items[next(iter(items))]
        items[key] = value
        return value
