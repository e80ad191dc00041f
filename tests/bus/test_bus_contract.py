"""The bus contract: ONE suite, run against every driver (memory, Kafka on the mock broker).

Per-key order, redelivery after a crash without duplicate effects, a dead letter
for every kind of bad input while the consumer keeps going, two members of a
group splitting the partitions with nothing lost or done twice, and a pipeline
that reports quiescence only when everything is done.
"""

from __future__ import annotations

import asyncio
import base64
from collections import defaultdict

import orjson
from bus_fakes import RecordingStore, ToyIngest, ToyRewrite, eventually, sheet, sheets

from bus.base import Bus, Consumer, Message, Reader
from bus.pipeline import run_pipeline
from bus.runner import StageRunner
from bus.topics import CODEX, DLQ, SHEETS
from contracts.registry import MAX_MESSAGE_BYTES, decode, encode

FLAGS = {"QWAVE_EXEC_ON": True, "stage.codex": True, "stage.photon": True}


async def read_all(bus: Bus, topic: str, expected: int, timeout: float = 20.0) -> list[Message]:
    """Everything on ``topic`` from the beginning (at least ``expected`` messages)."""
    got: list[Message] = []
    async with bus.read([topic], start="earliest") as reader:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < expected or not await reader.caught_up():
            got.extend(await reader.getmany(500, 0.2))
            assert asyncio.get_running_loop().time() < deadline, f"only {len(got)} of {expected} on {topic}"
    return got


async def settled(bus: Bus, runner: StageRunner) -> None:
    await eventually(lambda: _zero(bus, runner), timeout=30.0, interval=0.05)


async def _zero(bus: Bus, runner: StageRunner) -> bool:
    return await bus.lag(runner.group, runner.topics) == 0


async def test_the_driver_implements_the_protocol(bus: Bus) -> None:
    assert isinstance(bus, Bus)
    assert isinstance(bus.consume("g", [SHEETS]), Consumer)
    assert isinstance(bus.read([SHEETS]), Reader)


async def test_messages_of_one_key_arrive_in_publish_order(bus: Bus) -> None:
    keys = [f"key-{k}" for k in range(8)]
    records = [(SHEETS, keys[i % 8], f"{keys[i % 8]}|{i}".encode()) for i in range(240)]
    await bus.publish_many(records)
    seen: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    async with bus.consume("order-check", [SHEETS]) as consumer:
        received = 0
        while received < len(records):
            batch = await consumer.getmany(100, 1.0)
            for message in batch:
                key, index = message.value.decode().split("|")
                assert message.key == key
                seen[key].append(int(index))
                partitions[key].add(message.partition)
            received += len(batch)
            await consumer.ack_many(batch)
    for key in keys:
        assert seen[key] == sorted(seen[key]) and len(seen[key]) == 30
        assert len(partitions[key]) == 1


async def test_a_crash_before_ack_redelivers_without_duplicate_effects(bus: Bus) -> None:
    store = RecordingStore()
    crash_after_persist = asyncio.Event()
    hang = asyncio.Event()
    crashed_batch: list[str] = []

    class CrashingStore(RecordingStore):
        """Persists one batch into ``store`` and never returns: the runner dies after persisting its
        outputs, before publishing them or acknowledging its inputs (the runner persists first)."""

        def persist_beam_events(self, events):  # type: ignore[no-untyped-def]
            store.persist_beam_events(events)
            crashed_batch.extend(e.event_id for e in events)
            crash_after_persist.set()
            return hang.wait()

    inputs = sheets(20)
    for env in inputs:
        await bus.publish(SHEETS, env.sheet_run_id, encode(env))
    first = StageRunner(ToyIngest(fanout=2), bus=bus, store=CrashingStore(), flags=FLAGS, max_batch=8)
    crashed = asyncio.create_task(first.run())
    await asyncio.wait_for(crash_after_persist.wait(), 30)
    crashed.cancel()  # the crash: one batch persisted, nothing published, nothing acknowledged
    await asyncio.gather(crashed, return_exceptions=True)
    assert crashed_batch and await read_all(bus, CODEX, expected=0) == []

    stage = ToyIngest(fanout=2)
    second = StageRunner(stage, bus=bus, store=store, flags=FLAGS)
    task = asyncio.create_task(second.run())
    await settled(bus, second)
    second.stop()
    await task

    expected = {f"run-{i:05d}.c{j}" for i in range(20) for j in range(2)}
    assert {e.cell_id for e in store.beams("ingest")} == expected
    assert len(store.beams("ingest")) == 40  # exactly once each
    assert sum(stage.calls.values()) == 20  # every input handled again after the crash
    assert all(store.deliveries[i] == 2 for i in crashed_batch)  # stored twice, kept once
    on_bus = await read_all(bus, CODEX, expected=40)
    # What the crash persisted but never published reached the bus on the redelivery, once.
    assert sorted(decode(m.value).event_id for m in on_bus) == sorted(e.event_id for e in store.beams("ingest"))


def _bad_inputs() -> dict[str, bytes]:
    good = orjson.loads(encode(sheet("run-bad")))
    invalid = {**good, "payload": {"sheet_run_id": "run-bad"}}
    unknown = {**good, "type": "NoSuchEvent"}
    future = {**good, "schema_version": 99}
    return {
        "malformed": b"\xff{not json",
        "invalid_schema": orjson.dumps(invalid),
        "unknown_type": orjson.dumps(unknown),
        "future_version": orjson.dumps(future),
        "too_large": b"{" + b" " * MAX_MESSAGE_BYTES + b"}",
        "handler_failed": encode(sheet("run-boom", source="boom")),
    }


async def test_each_bad_input_becomes_a_dead_letter_and_the_consumer_goes_on(bus: Bus) -> None:
    store = RecordingStore()
    stage = ToyIngest(fanout=1)
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS, max_attempts=2, backoff_s=0.01)
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    bad = _bad_inputs()
    for reason, raw in bad.items():
        await bus.publish(SHEETS, f"key-{reason}", raw)
    await bus.publish(SHEETS, "run-good", encode(sheet("run-good")))
    await settled(bus, runner)

    letters = [decode(m.value) for m in await read_all(bus, DLQ, expected=len(bad))]
    by_reason = {letter.payload["reason"]: letter for letter in letters}
    assert set(by_reason) == set(bad)
    for reason, letter in by_reason.items():
        assert letter.payload["topic"] == SHEETS and letter.payload["key"] == f"key-{reason}"
        assert letter.payload["stage"] == "codex" and letter.payload["error"]
        if reason != "too_large":
            assert base64.b64decode(letter.payload["original_b64"]) == bad[reason]
    assert stage.calls["run-boom"] == 2  # retried, then dead-lettered
    assert len(store.of_type("DeadLetter")) == len(bad)
    assert [e.cell_id for e in store.beams("ingest")] == ["run-good.c0"]

    await bus.publish(SHEETS, "run-after", encode(sheet("run-after")))  # still consuming
    await eventually(lambda: any(e.cell_id == "run-after.c0" for e in store.beams("ingest")), timeout=30)
    assert not task.done()
    runner.stop()
    await task


async def test_transient_handler_failures_are_retried_not_dead_lettered(bus: Bus) -> None:
    store = RecordingStore()
    stage = ToyIngest(fanout=1, fail_first={"run-flaky": 2})
    runner = StageRunner(stage, bus=bus, store=store, flags=FLAGS, max_attempts=3, backoff_s=0.01)
    task = asyncio.create_task(runner.run())
    await bus.publish(SHEETS, "run-flaky", encode(sheet("run-flaky")))
    await settled(bus, runner)
    runner.stop()
    await task
    assert stage.calls["run-flaky"] == 3 and runner.stats.retries == 2
    assert [e.cell_id for e in store.beams("ingest")] == ["run-flaky.c0"]
    assert store.of_type("DeadLetter") == []


async def test_two_members_of_a_group_split_partitions_without_loss_or_double_effect(bus: Bus) -> None:
    store = RecordingStore()
    stages = [ToyIngest(fanout=1), ToyIngest(fanout=1)]
    runners = [
        StageRunner(stage, bus=bus, store=store, flags=FLAGS, instance_id=name, member_id=name)
        for stage, name in zip(stages, ("worker-a", "worker-b"), strict=True)
    ]
    tasks = [asyncio.create_task(r.run()) for r in runners]

    def split() -> bool:
        owned = [r.consumer.assignment() if r.consumer else frozenset() for r in runners]
        return all(owned) and not (owned[0] & owned[1]) and len(owned[0] | owned[1]) == 4

    await eventually(split, timeout=30)
    inputs = sheets(120)
    await bus.publish_many([(SHEETS, e.sheet_run_id, encode(e)) for e in inputs])
    await settled(bus, runners[0])
    for runner in runners:
        runner.stop()
    await asyncio.gather(*tasks)

    assert {e.cell_id for e in store.beams("ingest")} == {f"{e.sheet_run_id}.c0" for e in inputs}
    assert all(n == 1 for n in store.deliveries.values())  # nothing processed twice
    handled = [set(stage.calls) for stage in stages]
    assert handled[0] and handled[1] and not (handled[0] & handled[1])


async def test_run_pipeline_returns_when_every_stage_is_done(bus: Bus) -> None:
    store = RecordingStore()
    ingest, rewrite = ToyIngest(fanout=3), ToyRewrite()
    snapshots = []
    result = await run_pipeline(
        [ingest, rewrite], sheets(40), bus=bus, store=store, flags=FLAGS, flags_digest="d1",
        progress=snapshots.append, timeout_s=60,
    )
    assert result.published == 40
    assert result.processed == {"codex": 40, "photon": 120}
    assert result.outputs == {"codex": 120, "photon": 120}
    assert len(store.beams("rewrite")) == 120 and len(store.of_type("SheetSubmitted")) == 40
    assert snapshots and snapshots[-1].pending == 0
    assert await bus.lag("beamline.photon", [CODEX]) == 0
