"""Batch sizes and the compile cache's bookkeeping."""

from __future__ import annotations

import pytest

from stages.qwave.cache import CompileCache
from stages.qwave.compiler import padded_size


def test_batch_sizes_round_up_to_powers_of_two() -> None:
    assert [padded_size(n) for n in (1, 2, 3, 5, 8, 9, 64)] == [1, 2, 4, 8, 8, 16, 64]


def test_cache_counts_hits_misses_and_evicts_least_recent() -> None:
    cache: CompileCache[str] = CompileCache(max_entries=2)
    built: list[str] = []

    def build(name: str) -> tuple[str, float]:
        built.append(name)
        return name.upper(), 0.5

    assert cache.get_or_build("a", lambda: build("a")) == ("A", False, 0.5)
    assert cache.get_or_build("a", lambda: build("a")) == ("A", True, 0.0)
    cache.get_or_build("b", lambda: build("b"))
    cache.get_or_build("a", lambda: build("a"))
    cache.get_or_build("c", lambda: build("c"))  # evicts b, the least recently used
    cache.get_or_build("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.compiles, stats.entries) == (2, 4, 4, 2)
    assert stats.hit_rate == pytest.approx(2 / 6)
    assert stats.compile_s == pytest.approx(2.0)
