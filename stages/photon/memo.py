"""``BoundedLRU``: the one shape of every cache the Photon stage keeps.

Photon's work on a beam is a pure function of content it can key (the input's
canonical key, the grid, the seed), so a sheet's repeated structures are
answered from memory. Every cache is bounded (least recently used entries go
first), so a long run of distinct cells cannot grow the process; a miss only
costs the recomputation.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """At most ``capacity`` entries; ``get`` refreshes an entry, ``put`` evicts the least recent."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        found = self._data.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)
