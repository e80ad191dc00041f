"""The runner's own behaviour (flags, disabled stages, failures) and run_pipeline's edges.

Driver-independent, so these run on the memory bus; the delivery guarantees are
in the contract suite, which runs on every driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bus_fakes import (
    T0,
    DisabledAware,
    RecordingStore,
    ToyIngest,
    ToyRewrite,
    beam,
    eventually,
    sheet,
    sheets,
)

from beamline import flags as flag_catalogue
from bus.base import BusError
from bus.memory import MemoryBus
from bus.pipeline import PipelineError, run_pipeline
from bus.runner import MAX_PENDING_OUTPUTS, StageRunner
from bus.topics import CONTROL, SHEETS
from contracts.envelope import Envelope
from contracts.payloads import FlagChanged
from contracts.registry import encode, make_event
from stages.base import StageContext

FLAGS: dict[str, Any] = flag_catalogue.defaults()


def flag_changed(name: str, value: Any, index: int = 0) -> Envelope:
    return make_event(FlagChanged(name=name, value=value), stage_id="control", index=index,
                      sheet_run_id=f"control-{name}-{value}-{index}", occurred_at=T0)


async def start(runner: StageRunner) -> asyncio.Task[None]:
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    return task


async def test_flag_changes_on_the_control_topic_apply_without_restart(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bus")
    bus, store, stage = MemoryBus(), RecordingStore(), ToyIngest(fanout=1)
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS)
    task = await start(runner)

    await bus.publish(SHEETS, "run-1", encode(sheet("run-1")))
    await eventually(lambda: runner.stats.processed == 1)
    await bus.publish(CONTROL, "QWAVE_EXEC_ON", encode(flag_changed("QWAVE_EXEC_ON", False)))
    await bus.publish(CONTROL, "stage.codex", encode(flag_changed("stage.codex", False)))
    await eventually(lambda: not runner.flags.enabled("codex"))

    await bus.publish(SHEETS, "run-2", encode(sheet("run-2")))
    await eventually(lambda: runner.stats.processed == 2)
    assert runner.stats.skipped_disabled == 1 and "run-2" not in stage.calls
    assert not [e for e in store.rows.values() if e.sheet_run_id == "run-2"]  # nothing forwarded or recorded
    assert "codex: stage disabled (flag stage.codex = false)" in caplog.text

    await bus.publish(CONTROL, "stage.codex", encode(flag_changed("stage.codex", True, 1)))
    await eventually(lambda: runner.flags.enabled("codex"))
    await bus.publish(SHEETS, "run-3", encode(sheet("run-3")))
    await eventually(lambda: runner.stats.processed == 3)
    runner.stop()
    await task

    (before, digest_before), (after, digest_after) = stage.flags_seen
    expected = {**FLAGS, "QWAVE_EXEC_ON": False, "stage.codex": True}
    assert before is True and after is False
    assert digest_before == flag_catalogue.digest(FLAGS)
    assert digest_after == flag_catalogue.digest(expected)  # same digest the CLI computes


async def test_invalid_flag_changes_are_ignored_and_the_runner_goes_on() -> None:
    bus, store = MemoryBus(), RecordingStore()
    runner = StageRunner(ToyIngest(), bus=bus, store=store, flags=FLAGS)
    task = await start(runner)
    await bus.publish(CONTROL, "x", encode(flag_changed("NO_SUCH_FLAG", True)))
    await bus.publish(CONTROL, "x", encode(flag_changed("QWAVE_EXEC_ON", "maybe")))
    await bus.publish(CONTROL, "x", b"not an event")
    await bus.publish(SHEETS, "run-1", encode(sheet("run-1")))
    await eventually(lambda: runner.stats.processed == 1)
    runner.stop()
    await task
    assert runner.flags.changes == 0 and runner.flags.values["QWAVE_EXEC_ON"] is True


async def test_a_disabled_stage_that_handles_it_is_still_called() -> None:
    bus, store = MemoryBus(), RecordingStore()
    runner = StageRunner(DisabledAware(), bus=bus, store=store, flags={**FLAGS, "stage.codex": False})
    result_task = await start(runner)
    await bus.publish(SHEETS, "run-1", encode(sheet("run-1")))
    await eventually(lambda: runner.stats.processed == 1)
    runner.stop()
    await result_task
    assert runner.stats.skipped_disabled == 0
    assert [e.payload["stage"] for e in store.of_type("BeamEvent")] == ["vetoed"]


async def test_a_failing_store_rewinds_the_batch_and_nothing_is_lost() -> None:
    class FlakyStore(RecordingStore):
        failures = 2

        def persist_beam_events(self, events: list[Envelope]) -> int:
            if self.failures:
                self.failures -= 1
                raise OSError("disk unavailable")
            return super().persist_beam_events(events)

    bus, store = MemoryBus(), FlakyStore()
    runner = StageRunner(ToyIngest(fanout=2), bus=bus, store=store, flags=FLAGS, backoff_s=0.01)
    task = await start(runner)
    await bus.publish_many([(SHEETS, e.sheet_run_id, encode(e)) for e in sheets(10)])
    await eventually(lambda: len(store.beams("ingest")) == 20)
    runner.stop()
    await task
    assert runner.stats.batch_failures == 2 and store.of_type("DeadLetter") == []
    assert await bus.lag(runner.group, runner.topics) == 0


async def test_a_handler_output_over_the_size_limit_is_a_dead_letter() -> None:
    class Bloated(ToyIngest):
        async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
            out = beam(envelope, self.stage_id, "ingest", 0, "eid::big", "big")
            return [out.model_copy(update={"payload": {**out.payload, "result": {"blob": "x" * 1_100_000}}})]

    bus, store = MemoryBus(), RecordingStore()
    runner = StageRunner(Bloated(), bus=bus, store=store, flags=FLAGS, max_attempts=1)
    task = await start(runner)
    await bus.publish(SHEETS, "run-1", encode(sheet("run-1")))
    await eventually(lambda: runner.stats.processed == 1)
    runner.stop()
    await task
    (letter,) = store.of_type("DeadLetter")
    assert letter.payload["reason"] == "handler_failed" and "over the message limit" in letter.payload["error"]
    assert letter.causation_id == sheet("run-1").event_id


async def test_inputs_are_stored_before_their_outputs() -> None:
    bus, store = MemoryBus(), RecordingStore()
    await run_pipeline([ToyIngest(fanout=2), ToyRewrite()], sheets(3), bus=bus, store=store, flags=FLAGS)
    order = list(store.rows)
    for env in store.rows.values():
        if env.causation_id is not None:
            assert order.index(env.causation_id) < order.index(env.event_id)


async def test_run_pipeline_dead_letters_raw_initial_records_and_reports_progress() -> None:
    bus, store = MemoryBus(), RecordingStore()
    seen = []
    result = await run_pipeline(
        [ToyIngest(fanout=1)], sheets(2), bus=bus, store=store, flags=FLAGS, progress=seen.append,
        initial_raw=[(SHEETS, "junk", b"\x00junk")],
    )
    assert result.published == 3 and result.dead_letters == 1 and result.outputs == {"codex": 2}
    assert result.events == 3 + 2 + 1 and result.events_per_s > 0
    assert seen[-1].pending == 0 and seen[-1].processed == {"codex": 3}


async def test_run_pipeline_raises_when_a_runner_cannot_start() -> None:
    class BrokenBus(MemoryBus):
        def consume(self, group: str, topics: Any, *, instance_id: str | None = None) -> Any:
            if group == "beamline.photon":
                raise BusError("cannot join group")
            return super().consume(group, topics, instance_id=instance_id)

    with pytest.raises(PipelineError, match="cannot join group"):
        await run_pipeline([ToyIngest(), ToyRewrite()], sheets(1), bus=BrokenBus(), store=RecordingStore(),
                           flags=FLAGS)


async def test_run_pipeline_gives_up_after_its_timeout() -> None:
    class Stuck(ToyIngest):
        async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
            await asyncio.Event().wait()
            return []

    with pytest.raises(PipelineError, match="not quiescent"):
        await run_pipeline([Stuck()], sheets(1), bus=MemoryBus(), store=RecordingStore(), flags=FLAGS,
                           timeout_s=0.3)


SECRET = "ab" * 32


async def test_with_qkd_on_unsigned_inputs_are_dead_letters_and_outputs_are_signed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from contracts.auth import Authenticator

    monkeypatch.setenv("BEAMLINE_QKD_SECRET", SECRET)
    auth = Authenticator(bytes.fromhex(SECRET))
    bus, store = MemoryBus(), RecordingStore()
    runner = StageRunner(ToyIngest(fanout=1), bus=bus, store=store, flags={**FLAGS, "QKD_ON": True})
    task = await start(runner)
    await bus.publish(SHEETS, "run-unsigned", encode(sheet("run-unsigned")))
    forged = auth.sign(sheet("run-forged")).model_copy(update={"container_id": "elsewhere"})
    await bus.publish(SHEETS, "run-forged", encode(forged))
    await bus.publish(SHEETS, "run-signed", encode(auth.sign(sheet("run-signed"))))
    await eventually(lambda: runner.stats.processed == 3)
    runner.stop()
    await task
    letters = store.of_type("DeadLetter")
    assert sorted(letter.payload["key"] for letter in letters) == ["run-forged", "run-unsigned"]
    assert {letter.payload["reason"] for letter in letters} == {"auth"}
    (out,) = store.beams("ingest")
    assert out.sheet_run_id == "run-signed" and out.auth
    auth.verify(out)  # signed by the runner with the per-EID key


async def test_run_pipeline_signs_its_initial_events_when_qkd_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEAMLINE_QKD_SECRET", SECRET)
    store = RecordingStore()
    result = await run_pipeline([ToyIngest(fanout=1), ToyRewrite()], sheets(3), bus=MemoryBus(), store=store,
                                flags={**FLAGS, "QKD_ON": True})
    assert result.dead_letters == 0 and len(store.beams("rewrite")) == 3
    assert all(e.auth for e in store.rows.values())


async def test_qkd_on_without_a_secret_stops_the_runner_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from contracts.auth import QKDConfigError

    monkeypatch.delenv("BEAMLINE_QKD_SECRET", raising=False)
    monkeypatch.delenv("BEAMLINE_QKD_SECRET_FILE", raising=False)
    with pytest.raises(QKDConfigError, match="no secret is configured"):
        await run_pipeline([ToyIngest()], sheets(1), bus=MemoryBus(), store=RecordingStore(),
                           flags={**FLAGS, "QKD_ON": True})


class BusyIngest(ToyIngest):
    """A stage whose handler computes without awaiting (as real stages do): 5 ms of CPU per input."""

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        deadline = time.perf_counter() + 0.005
        while time.perf_counter() < deadline:
            pass
        return await super().handle(envelope, ctx)


async def test_other_tasks_run_between_the_messages_of_a_batch() -> None:
    # A Kafka member's heartbeats are tasks on the runner's loop: a batch handled without a
    # yield between messages starves them, and the broker evicts a live member mid-batch.
    bus, store, stage = MemoryBus(), RecordingStore(), BusyIngest(fanout=1)
    for envelope in sheets(40, prefix="busy"):
        await bus.publish(SHEETS, envelope.sheet_run_id, encode(envelope))
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS, max_batch=64)
    ticks_during_handling: list[int] = []

    async def heartbeat() -> None:
        while True:
            ticks_during_handling.append(sum(stage.calls.values()))
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    task = await start(runner)
    await eventually(lambda: runner.stats.processed == 40)
    runner.stop()
    await task
    beat.cancel()
    # The loop came back to the heartbeat while inputs were still being handled, many times.
    assert len({n for n in ticks_during_handling if 0 < n < 40}) >= 20


class StreamingIngest(ToyIngest):
    """A stage that streams its outputs (as Codex streams a sheet's cells), counting what it has made."""

    def __init__(self, fanout: int) -> None:
        super().__init__(fanout=fanout)
        self.made = 0

    def stream(self, envelope: Envelope, ctx: StageContext) -> Iterator[Envelope]:
        for i in range(self.fanout):
            self.made += 1
            yield beam(envelope, self.stage_id, "ingest", i, f"eid::{envelope.sheet_run_id}", f"c{i}")

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        return list(self.stream(envelope, ctx))


async def test_a_streaming_stage_is_delivered_in_parts_never_held_whole() -> None:
    fanout = 3 * MAX_PENDING_OUTPUTS + 7
    bus, stage = MemoryBus(), StreamingIngest(fanout)
    held: list[int] = []

    class Watching(RecordingStore):
        def persist_beam_events(self, events: list[Envelope]) -> int:
            held.append(stage.made - sum(1 for e in self.rows.values() if e.type == "BeamEvent"))
            return super().persist_beam_events(events)

    store = Watching()
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS)
    task = await start(runner)
    await bus.publish(SHEETS, "big", encode(sheet("big")))
    await eventually(lambda: runner.stats.processed == 1)
    runner.stop()
    await task
    assert len(store.beams("ingest")) == fanout and max(store.deliveries.values()) == 1
    assert len(held) == 4 and max(held) <= MAX_PENDING_OUTPUTS  # four parts, none larger than a part
    assert runner.stats.outputs == fanout and runner.stats.persisted == fanout + 1  # the input, once
