"""The batching window and the compile cache's bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from stages.qwave.batching import BatchWindow
from stages.qwave.cache import CompileCache
from stages.qwave.compiler import padded_size


async def test_window_is_bounded_in_size() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(10):
        queue.put_nowait(i)
    window = BatchWindow(max_size=4, max_wait_s=1.0)
    assert await window.collect(queue.get) == [0, 1, 2, 3]
    assert window.take_ready(queue) == [4, 5, 6, 7]
    assert queue.qsize() == 2


async def test_window_is_bounded_in_time_and_loses_nothing() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    queue.put_nowait(1)

    async def late() -> None:
        await asyncio.sleep(0.2)
        queue.put_nowait(2)

    producer = asyncio.create_task(late())
    assert await BatchWindow(max_size=8, max_wait_s=0.01).collect(queue.get) == [1]
    await producer
    assert await queue.get() == 2


def test_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        BatchWindow(max_size=0)
    with pytest.raises(ValueError):
        BatchWindow(max_wait_s=-1)


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
