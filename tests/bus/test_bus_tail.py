"""``beamline tail``: filters, undecodable messages shown, no consumer group, store following."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from bus_fakes import ToyIngest, beam, eventually, sheet

from bus.base import Bus
from bus.topics import CODEX, SHEETS
from contracts.envelope import Envelope
from contracts.registry import encode
from replay.tail import TailFilter, TailItem, parse_since, tail_bus, tail_store, tail_topics, to_json, to_text


def test_since_and_topic_arguments() -> None:
    assert parse_since("10m") == timedelta(minutes=10)
    assert parse_since("90") == timedelta(seconds=90)
    assert parse_since("1.5h") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="--since expects"):
        parse_since("ten minutes")
    assert tail_topics(["photon", "beamline.sqi"]) == ("beamline.photon", "beamline.sqi")
    with pytest.raises(ValueError, match="unknown topic 'nope'"):
        tail_topics(["nope"])


def _events() -> list[Envelope]:
    submitted = sheet("run-t")
    return [submitted, beam(submitted, "codex", "ingest", 0, "eid::a", "a"),
            beam(submitted, "codex", "ingest", 1, "eid::b", "b")]


async def test_tail_shows_matching_events_and_every_undecodable_message(bus: Bus) -> None:
    submitted, beam_a, beam_b = _events()
    await bus.publish(SHEETS, "run-t", encode(submitted))
    await bus.publish(CODEX, "eid::a", encode(beam_a))
    await bus.publish(CODEX, "junk", b"\x00 not an event")
    await bus.publish(CODEX, "eid::b", encode(beam_b))

    everything: list[TailItem] = []
    await tail_bus(bus, everything.append, start="earliest", follow=False, poll_s=0.2)
    assert len(everything) == 4
    (junk,) = [item for item in everything if item.envelope is None]
    assert junk.reason == "malformed" and junk.key == "junk" and junk.topic == CODEX
    assert "UNDECODABLE" in to_text(junk).plain
    assert orjson.loads(to_json(junk))["undecodable"] is True

    only_b: list[TailItem] = []
    await tail_bus(bus, only_b.append, flt=TailFilter(eid="eid::b", topics=(CODEX,)), start="earliest",
                   follow=False, poll_s=0.2)
    assert sorted(i.envelope.cell_id if i.envelope else "?" for i in only_b) == ["?", "b"]  # junk still shown

    by_stage: list[TailItem] = []
    await tail_bus(bus, by_stage.append, flt=TailFilter(stage="ingest", type="BeamEvent"), start="earliest",
                   follow=False, poll_s=0.2)
    assert sorted(i.envelope.cell_id for i in by_stage if i.envelope) == ["a", "b"]
    # Partitions interleave in any order on Kafka: look at a decoded line, wherever it came.
    line = to_text(next(i for i in by_stage if i.envelope is not None)).plain
    assert "BeamEvent" in line and "cell=" in line and "stage=ingest" in line


async def test_tail_follows_new_events_without_joining_any_group(bus: Bus) -> None:
    from bus_fakes import RecordingStore

    from bus.runner import StageRunner

    runner = StageRunner(ToyIngest(), bus=bus, store=RecordingStore(), flags={})
    worker = asyncio.create_task(runner.run())
    await eventually(lambda: runner.consumer is not None and len(runner.consumer.assignment()) == 4, timeout=30)
    seen: list[TailItem] = []
    stop = asyncio.Event()
    tailing = asyncio.create_task(tail_bus(bus, seen.append, flt=TailFilter(topics=(SHEETS, CODEX)), stop=stop,
                                           poll_s=0.1))
    await asyncio.sleep(0.5)  # the tail starts at "latest": only what comes next
    await bus.publish(SHEETS, "run-live", encode(sheet("run-live")))
    await eventually(lambda: len(seen) >= 3, timeout=30)  # the sheet and the worker's two beams
    assert len(runner.consumer.assignment()) == 4  # the worker kept all its partitions
    stop.set()
    assert await tailing >= 3
    runner.stop()
    await worker
    assert runner.stats.processed == 1


class SeqStore:
    """The slice of the store API tail uses: ``events_with_seq`` and ``max_seq``."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, Envelope]] = []

    def add(self, env: Envelope) -> None:
        self.rows.append((len(self.rows) + 1, env))

    def max_seq(self) -> int:
        return len(self.rows)

    def events_with_seq(self, after_seq: int, limit: int, *, eid: str | None = None, cell_id: str | None = None,
                        types: list[str] | None = None, since: datetime | None = None, **_: Any
                        ) -> list[tuple[int, Envelope]]:
        found = [(s, e) for s, e in self.rows if s > after_seq and (eid is None or e.eid == eid)
                 and (cell_id is None or e.cell_id == cell_id) and (types is None or e.type in types)
                 and (since is None or e.occurred_at >= since)]
        return found[:limit]


async def test_tail_on_the_embedded_bus_follows_the_store_by_seq() -> None:
    store = SeqStore()
    old = _events()
    for env in old:
        store.add(env)
    backlog: list[TailItem] = []
    assert await tail_store(store, backlog.append, from_beginning=True, follow=False, batch=2) == 3
    assert [i.seq for i in backlog] == [1, 2, 3] and backlog[1].topic == CODEX

    cells: list[TailItem] = []
    await tail_store(store, cells.append, flt=TailFilter(cell="b"), from_beginning=True, follow=False)
    assert [i.envelope.cell_id for i in cells if i.envelope] == ["b"]

    assert await tail_store(store, [].append, since=timedelta(minutes=10), follow=False) == 0  # all from 2026-01-01

    live: list[TailItem] = []
    stop = asyncio.Event()
    follower = asyncio.create_task(tail_store(store, live.append, stop=stop, poll_s=0.02))
    await asyncio.sleep(0.05)
    newer = beam(old[0], "codex", "ingest", 7, "eid::c", "c")
    store.add(newer)
    await eventually(lambda: len(live) == 1)
    stop.set()
    assert await follower == 1 and live[0].envelope == newer and live[0].seq == 4
