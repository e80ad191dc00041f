"""A bounded cache of compiled XLA executables with hit/miss/compile counters.

Keys are built by the compiler from (structure key, input shapes and dtypes, grid,
precision, batch size). A value is an ahead-of-time compiled executable, so a
cache hit can never trigger a hidden re-trace or re-compile, and every real
compilation is counted exactly once (``compiles``) with its duration.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was created (or last ``clear``)."""

    hits: int
    misses: int
    compiles: int
    entries: int
    evictions: int
    compile_s: float

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def to_json(self) -> dict[str, float | int]:
        out: dict[str, float | int] = dict(asdict(self))
        out["hit_rate"] = self.hit_rate
        return out


class CompileCache(Generic[V]):
    """LRU map key -> compiled value; ``get_or_build`` counts a hit or a miss plus one compile."""

    def __init__(self, max_entries: int = 512) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._compiles = 0
        self._evictions = 0
        self._compile_s = 0.0

    def get_or_build(self, key: Hashable, build: Callable[[], tuple[V, float]]) -> tuple[V, bool, float]:
        """Return (value, hit, compile seconds); ``build`` returns (value, its compile seconds).

        ``build`` runs outside the lock (compiles are slow); if two threads race on
        one key both compile and the second result is dropped, which is only waste.
        """
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return found, True, 0.0
            self._misses += 1
        value, seconds = build()
        with self._lock:
            self._compiles += 1
            self._compile_s += seconds
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
                self._evictions += 1
        return value, False, seconds

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                compiles=self._compiles,
                entries=len(self._entries),
                evictions=self._evictions,
                compile_s=self._compile_s,
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = self._compiles = self._evictions = 0
            self._compile_s = 0.0
