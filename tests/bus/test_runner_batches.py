"""The runner with batch-capable and deferring stages (bus.batches): batch calls, fallback, deferral."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bus_fakes import RecordingStore, ToyIngest, beam, eventually, sheet, sheets

from beamline import flags as flag_catalogue
from bus.memory import MemoryBus
from bus.runner import StageRunner
from bus.topics import CODEX, SHEETS
from contracts.envelope import Envelope
from contracts.payloads import BeamEvent
from contracts.registry import encode, make_event
from stages.base import StageContext

FLAGS: dict[str, Any] = flag_catalogue.defaults()


class BatchIngest(ToyIngest):
    """ToyIngest with ``handle_batch``; the whole batch fails when a "boom" sheet is in it."""

    batch_wait_s = 0.05

    def __init__(self) -> None:
        super().__init__(fanout=1)
        self.batch_sizes: list[int] = []

    async def handle_batch(self, envelopes: Sequence[Envelope], ctx: StageContext) -> list[list[Envelope]]:
        self.batch_sizes.append(len(envelopes))
        if any(e.payload["source"] == "boom" for e in envelopes):
            raise RuntimeError("poisoned batch")
        return [await ToyIngest.handle(self, e, ctx) for e in envelopes]


async def run_until(runner: StageRunner, done: Any) -> None:
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    try:
        await eventually(done)
    finally:
        runner.stop()
        await task


async def test_a_batch_stage_gets_messages_arriving_within_its_wait_in_one_call() -> None:
    bus, store, stage = MemoryBus(), RecordingStore(), BatchIngest()
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS)

    async def trickle() -> None:
        await runner.ready.wait()
        for envelope in sheets(6):
            await bus.publish(SHEETS, envelope.sheet_run_id, encode(envelope))
            await asyncio.sleep(0.002)  # well inside the stage's 50 ms window

    feeder = asyncio.create_task(trickle())
    await run_until(runner, lambda: runner.stats.processed == 6)
    await feeder
    assert stage.batch_sizes == [6] and runner.stats.batch_calls == 1
    assert len(store.beams("ingest")) == 6


async def test_a_poison_input_falls_back_to_one_by_one_and_sinks_only_itself() -> None:
    bus, store, stage = MemoryBus(), RecordingStore(), BatchIngest()
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS, backoff_s=0.001)
    batch = [*sheets(3), sheet("poison", source="boom"), *sheets(2, prefix="late")]
    await bus.publish_many([(SHEETS, e.sheet_run_id, encode(e)) for e in batch])
    await run_until(runner, lambda: runner.stats.processed == 6)

    assert runner.stats.batch_calls == 0  # the one batch call failed ...
    assert len(store.beams("ingest")) == 5  # ... and every good input still got its output
    letters = store.of_type("DeadLetter")
    assert [d.payload["reason"] for d in letters] == ["handler_failed"]
    assert stage.calls["poison"] == runner.max_attempts  # retried alone, then dead-lettered
    assert await bus.lag(runner.group, runner.topics) == 0


class Deferring:
    """Defers every input ``times`` times (a deferred beam), then emits its routed beam."""

    stage_id = "photon"
    input_topics = (CODEX,)
    watches_backlog = {"qwave": ("beamline.photon",)}

    def __init__(self, times: int) -> None:
        self.times = times
        self.seen: list[tuple[int, dict[str, int]]] = []

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        self.seen.append((ctx.deferrals, dict(ctx.backlog)))
        if ctx.deferrals < self.times:
            payload = BeamEvent(beam_id=f"d{ctx.deferrals}", cell_id="c", sheet_run_id=envelope.sheet_run_id,
                                container_id=envelope.container_id, eid="e", stage="deferred", token="x",
                                result={"deferral": {"retry_after_s": 0.01, "attempt": ctx.deferrals}},
                                timestamp="t")
            return [make_event(payload, stage_id=self.stage_id, index=100 + ctx.deferrals, parent=envelope,
                               occurred_at=ctx.now())]
        return [beam(envelope, self.stage_id, "rewrite", 0, "e", "c")]


async def test_a_deferred_input_is_retried_with_the_backlog_until_it_is_routed() -> None:
    bus, store, stage = MemoryBus(), RecordingStore(), Deferring(times=2)
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS)
    ingest = beam(sheet("r"), "codex", "ingest", 0, "e", "c")
    await bus.publish(CODEX, "e", encode(ingest))
    await run_until(runner, lambda: runner.stats.processed == 1)

    assert [n for n, _ in stage.seen] == [0, 1, 2]
    assert all(set(backlog) == {"qwave"} for _, backlog in stage.seen)
    # Nobody consumes beamline.photon here, so the qwave backlog grows with each deferred beam.
    assert [backlog["qwave"] for _, backlog in stage.seen] == [0, 1, 2]
    assert [b.payload["stage"] for b in store.of_type("BeamEvent")] == ["ingest", "deferred", "deferred", "rewrite"]
    assert runner.stats.deferrals == 2 and runner.stats.outputs == 3
    assert await bus.lag(runner.group, runner.topics) == 0


async def test_a_bus_that_cannot_report_lag_leaves_the_backlog_unknown() -> None:
    class NoLag(MemoryBus):
        async def lag(self, group: str, topics: Sequence[str]) -> int:
            if group == "beamline.qwave":
                raise RuntimeError("no admin API")
            return await super().lag(group, topics)

    bus, store, stage = NoLag(), RecordingStore(), Deferring(times=0)
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS)
    await bus.publish(CODEX, "e", encode(beam(sheet("r"), "codex", "ingest", 0, "e", "c")))
    await run_until(runner, lambda: runner.stats.processed == 1)
    assert stage.seen == [(0, {})]  # unknown, not zero: the stage decides what that means
    assert runner.stats.batch_failures == 0 and [b.payload["stage"] for b in store.beams("rewrite")] == ["rewrite"]
