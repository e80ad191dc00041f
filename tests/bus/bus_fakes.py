"""Toy stages and stores for the bus tests (the real stages are tested elsewhere).

* ``ToyIngest`` (stage id ``codex``): SheetSubmitted -> ``fanout`` ingest BeamEvents.
* ``ToyRewrite`` (stage id ``photon``): ingest BeamEvent -> one rewrite BeamEvent.
* ``RecordingStore``: in-memory, dedupes by event_id and counts every delivery.
* ``SqliteEventStore``: the same on a file, so it survives a killed process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bus.topics import CODEX, SHEETS
from contracts.envelope import Envelope
from contracts.payloads import BeamEvent, SheetSubmitted
from contracts.registry import decode, encode, make_event
from stages.base import StageContext

T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: Short sessions so rebalances on the mock take about a second (it waits session - 1 s).
KAFKA_TEST_OPTIONS: dict[str, Any] = {
    "session_timeout_ms": 3000,
    "heartbeat_interval_ms": 300,
    "provision": (),
}


def sheet(run: str, source: str = "cell a : 1", container: str = "c1") -> Envelope:
    return make_event(
        SheetSubmitted(sheet_run_id=run, container_id=container, source=source),
        stage_id="test", index=0, sheet_run_id=run, container_id=container, occurred_at=T0,
    )


def sheets(n: int, prefix: str = "run") -> list[Envelope]:
    return [sheet(f"{prefix}-{i:05d}") for i in range(n)]


def beam(parent: Envelope, stage_id: str, stage: str, index: int, eid: str, cell: str) -> Envelope:
    return make_event(
        BeamEvent(beam_id=f"{parent.event_id}:{index}", cell_id=cell, sheet_run_id=parent.sheet_run_id,
                  container_id=parent.container_id, eid=eid, stage=stage, token="x",  # type: ignore[arg-type]
                  result={"index": index}, timestamp="t"),
        stage_id=stage_id, index=index, parent=parent, eid=eid, cell_id=cell, occurred_at=T0,
    )


class ToyIngest:
    """SheetSubmitted -> ``fanout`` ingest beams. ``source == "boom"`` always raises;
    ``fail_first`` maps a run id to how many attempts fail before one succeeds."""

    stage_id = "codex"
    input_topics = (SHEETS,)

    def __init__(self, fanout: int = 2, delay_s: float = 0.0, fail_first: dict[str, int] | None = None):
        self.fanout = fanout
        self.delay_s = delay_s
        self.fail_first = dict(fail_first or {})
        self.calls: Counter[str] = Counter()
        self.flags_seen: list[tuple[Any, str]] = []

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        self.calls[envelope.sheet_run_id] += 1
        self.flags_seen.append((ctx.flags.get("QWAVE_EXEC_ON"), ctx.flags_digest))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if envelope.payload["source"] == "boom":
            raise RuntimeError("boom")
        if self.fail_first.get(envelope.sheet_run_id, 0) > 0:
            self.fail_first[envelope.sheet_run_id] -= 1
            raise ConnectionError("transient")
        run = envelope.sheet_run_id
        return [beam(envelope, self.stage_id, "ingest", i, f"eid::{run}", f"{run}.c{i}") for i in range(self.fanout)]


class ToyRewrite:
    """Ingest beam -> one rewrite beam (a second hop, for pipeline tests)."""

    stage_id = "photon"
    input_topics = (CODEX,)

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        self.calls += 1
        return [beam(envelope, self.stage_id, "rewrite", 0, envelope.eid or "", envelope.cell_id or "")]


class DisabledAware(ToyIngest):
    """A stage that wants to be called even when disabled (fails closed by itself)."""

    handles_disabled = True

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        if not ctx.flags.get(f"stage.{self.stage_id}", True):
            return [beam(envelope, self.stage_id, "vetoed", 0, "eid::off", "off")]
        return await super().handle(envelope, ctx)


class RecordingStore:
    """Keeps each event once (first write wins) and counts how often each was persisted."""

    def __init__(self) -> None:
        self.rows: dict[str, Envelope] = {}
        self.deliveries: Counter[str] = Counter()
        self.batches = 0

    def persist_beam_events(self, events: list[Envelope]) -> int:
        self.batches += 1
        new = 0
        for env in events:
            self.deliveries[env.event_id] += 1
            if env.event_id not in self.rows:
                self.rows[env.event_id] = env
                new += 1
        return new

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.rows.values() if e.type == event_type]

    def beams(self, stage: str) -> list[Envelope]:
        return [e for e in self.of_type("BeamEvent") if e.payload["stage"] == stage]


class SqliteEventStore:
    """A file-backed store for crash tests: unique event ids, plus a delivery counter."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, type TEXT, body BLOB)")
        self._db.execute("CREATE TABLE IF NOT EXISTS deliveries (event_id TEXT, n INTEGER)")

    def persist_beam_events(self, events: list[Envelope]) -> int:
        with self._db:
            self._db.execute("BEGIN")
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?)",
                                 [(e.event_id, e.type, encode(e)) for e in events])
            inserted = self._db.total_changes - before
            self._db.executemany("INSERT INTO deliveries VALUES (?, 1)", [(e.event_id,) for e in events])
        return inserted

    def count(self, event_type: str | None = None) -> int:
        if event_type is None:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM events WHERE type = ?", (event_type,)).fetchone()[0])

    def all_events(self) -> list[Envelope]:
        return [decode(row[0]) for row in self._db.execute("SELECT body FROM events")]

    def redelivered(self) -> int:
        """Event ids persisted more than once (each one a redelivery absorbed by the unique key)."""
        query = "SELECT COUNT(*) FROM (SELECT event_id FROM deliveries GROUP BY event_id HAVING COUNT(*) > 1)"
        return int(self._db.execute(query).fetchone()[0])

    def close(self) -> None:
        self._db.close()


async def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value; fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
