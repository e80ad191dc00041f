"""Group commit through BatchWriter, on every store backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from contracts.envelope import Envelope
from store.batch_writer import BatchWriter
from store.beam_store import BeamStore, open_store
from store.sample_runs import sample_run


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_full_batch_is_written_at_once_and_the_rest_after_the_delay(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=1)[:25]
    writer = BatchWriter(store, max_batch=10, max_delay_s=0.02)
    for envelope in run:
        await writer.add(envelope)
    assert store.max_seq() == 20  # two full batches went out inline
    assert writer.pending == 5
    await _until(lambda: writer.pending == 0)  # the latency bound flushes the tail
    assert [e.event_id for e in store.events()] == [e.event_id for e in run]
    assert writer.stored == 25
    await writer.close()


async def test_add_and_wait_returns_once_committed_and_keeps_add_order(store: BeamStore) -> None:
    runs = [sample_run(f"run-{i}", cells=2, generations=0) for i in range(6)]
    writer = BatchWriter(store, max_batch=1000, max_delay_s=0.01)

    async def producer(events: list[Envelope]) -> None:
        for envelope in events:
            await writer.add_and_wait([envelope])
            assert store.get_event(envelope.event_id) == envelope  # durable when the call returns

    await asyncio.gather(*(producer(run) for run in runs))
    stored = store.events()
    assert len(stored) == sum(len(run) for run in runs)
    for run in runs:  # each producer's events keep their relative order in seq
        own = [e.event_id for e in stored if e.sheet_run_id == run[0].sheet_run_id]
        assert own == [e.event_id for e in run]
    await writer.close()


async def test_redelivered_events_are_not_stored_twice(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=0)
    async with BatchWriter(store, max_batch=8) as writer:
        await writer.add_many(run)
        await writer.add_many(run[:10])
        assert await writer.flush() == 0  # add_many wrote full batches inline; the rest were duplicates
    assert writer.stored == len(run)
    assert len(store.events()) == len(run)


async def test_a_failed_write_keeps_the_batch_for_the_next_flush(
    store: BeamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sample_run("run-1", cells=2, generations=0)[:6]
    writer = BatchWriter(store, max_batch=100, max_delay_s=10)
    await writer.add_many(run)
    real = store.persist_beam_events
    calls = {"n": 0}

    def flaky(batch: Sequence[Envelope]) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database went away")
        return real(batch)

    monkeypatch.setattr(store, "persist_beam_events", flaky)
    with pytest.raises(ConnectionError):  # the write error reaches the caller
        await writer.flush()
    assert writer.pending == 6 and store.max_seq() == 0
    assert await writer.flush() == 6
    assert [e.event_id for e in store.events()] == [e.event_id for e in run]


async def test_an_in_memory_store_works_as_a_scratch_store() -> None:
    scratch = open_store("sqlite://", migrate=True)
    try:
        run = sample_run("run-1", cells=2, generations=1)
        async with BatchWriter(scratch, max_batch=16, max_delay_s=0.001) as writer:
            assert writer.offload is False
            await writer.add_many(run)
        assert [e.event_id for e in scratch.events()] == [e.event_id for e in run]
        assert scratch.get_lineage_for_cell("c1.g1")[0].type == "SheetSubmitted"
    finally:
        scratch.close()
