"""P3 — the bus drivers against raw aiokafka, side by side on the same mock broker.

For N small events (SheetSubmitted envelopes of ~300 bytes) it times, each in a
round's fresh librdkafka mock cluster (or a fresh memory bus):

* ``raw_aiokafka``    produce N with an idempotent AIOKafkaProducer, consume N in a
                      group with manual commits per batch — the floor;
* ``kafka_driver``    the same through ``KafkaBus.publish_many`` / consumer ``ack_many``;
* ``kafka_pipeline``  ``run_pipeline`` with one pass-through stage on ``KafkaBus``:
                      N inputs published, decoded, handled, N outputs published, acked;
* ``memory_driver`` / ``memory_pipeline``: the same two on the embedded bus.

Figures are medians of ``--runs`` runs; ratios are events/s of a mode over the
raw aiokafka events/s in the same run. Events are counted as in P1: messages
moved (driver and raw modes: N), events persisted (pipeline modes: N inputs + N
outputs). The store is a counter (this measures the bus and the runner, not
SQLite). Every mode checks that each message came back exactly once (the pipeline:
N outputs, 2N events persisted). Prints one JSON object on the last line.

    .venv/bin/python scripts/bench/bench_bus.py                  # 100,000 events, 5 runs
    .venv/bin/python scripts/bench/bench_bus.py --events 20000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from benchlib import check, emit, machine, spread  # noqa: E402

from bus.base import Bus  # noqa: E402
from bus.kafka import KafkaBus  # noqa: E402
from bus.kafka_mock import MockCluster  # noqa: E402
from bus.memory import MemoryBus  # noqa: E402
from bus.pipeline import run_pipeline  # noqa: E402
from bus.topics import ALL_TOPICS, DEFAULT_PARTITIONS, SHEETS  # noqa: E402
from contracts.envelope import Envelope  # noqa: E402
from contracts.payloads import BeamEvent, SheetSubmitted  # noqa: E402
from contracts.registry import encode, make_event  # noqa: E402
from stages.base import StageContext  # noqa: E402


def small_events(n: int) -> list[Envelope]:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        make_event(SheetSubmitted(sheet_run_id=f"run-{i:07d}", container_id="bench", source="cell a : 1"),
                   stage_id="bench", index=0, sheet_run_id=f"run-{i:07d}", container_id="bench", occurred_at=at)
        for i in range(n)
    ]


class PassThrough:
    """One output per input: the least work a stage can do, so the bus dominates."""

    stage_id = "codex"
    input_topics = (SHEETS,)

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        payload = BeamEvent(beam_id=envelope.event_id, cell_id="a", sheet_run_id=envelope.sheet_run_id,
                            container_id=envelope.container_id, eid=f"eid::{envelope.sheet_run_id}",
                            stage="ingest", token="x", timestamp="t")
        return [make_event(payload, stage_id=self.stage_id, index=0, parent=envelope, cell_id="a",
                           occurred_at=envelope.occurred_at)]


class CountingStore:
    """Keeps the ids it was given: writes of an id already held count as redundant (the real
    store skips them with ON CONFLICT DO NOTHING, after paying for the round trip)."""

    def __init__(self) -> None:
        self.writes = 0
        self.ids: set[str] = set()

    def persist_beam_events(self, events: list[Envelope]) -> int:
        self.writes += len(events)
        before = len(self.ids)
        self.ids.update(e.event_id for e in events)
        return len(self.ids) - before


PERSIST_WRITES: dict[str, float] = {}  # persist calls per input event, by bus (reported)
KAFKA = {"provision": (), "session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


RAW_TOPIC, DRIVER_TOPIC = "bench.raw", "bench.driver"
# librdkafka's mock broker keeps at most 5 MiB (and 100,000 message sets) per partition and
# deletes the oldest beyond that, so a consumer that falls behind loses messages. Topics get
# enough partitions to hold a whole run (below 3 MiB each), the same count for every mode.
MOCK_PARTITION_BYTES = 3 * 2**20
STALL_S = 30.0  # no message for this long: the run has lost messages, fail instead of hanging


def partitions_for(values: list[tuple[str, bytes]]) -> int:
    total = sum(len(k) + len(v) + 70 for k, v in values)  # + record overhead
    return max(DEFAULT_PARTITIONS, -(-total // MOCK_PARTITION_BYTES))


def stalled(mode: str, received: int, expected: int, idle_s: float) -> None:
    check(idle_s < STALL_S, f"{mode}: no message for {idle_s:.0f} s after {received} of {expected} "
          "(messages lost or the consumer is stuck)")


def check_received(mode: str, keys: list[str | None], values: list[tuple[str, bytes]]) -> None:
    """Every message sent came back exactly once."""
    check(len(keys) == len(values) and sorted(k or "" for k in keys) == sorted(k for k, _ in values),
          f"{mode}: received {len(keys)} messages ({len(set(keys))} distinct keys) for {len(values)} sent")


async def raw_aiokafka(bootstrap: str, values: list[tuple[str, bytes]]) -> None:
    """Produce N (idempotent, acks=all) while a group member consumes them with a commit per batch."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
                                max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(RAW_TOPIC, bootstrap_servers=bootstrap, group_id="raw", enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50)
    await producer.start()
    await consumer.start()

    async def produce() -> None:
        pending = [await producer.send(RAW_TOPIC, value=v, key=k.encode()) for k, v in values]
        await asyncio.gather(*pending)

    try:
        producing = asyncio.create_task(produce())
        keys: list[str | None] = []
        last = time.perf_counter()
        while len(keys) < len(values):
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batches:
                last = time.perf_counter()
            stalled("raw_aiokafka", len(keys), len(values), time.perf_counter() - last)
            for tp, records in batches.items():
                keys += [r.key.decode() if r.key else None for r in records]
                await consumer.commit({tp: records[-1].offset + 1})
        await producing
    finally:
        await consumer.stop()
        await producer.stop()
    check_received("raw_aiokafka", keys, values)


async def through_driver(bus: Bus, values: list[tuple[str, bytes]]) -> None:
    """The same through a bus driver: publish_many while a group member consumes and acks per batch."""
    await bus.start()
    keys: list[str | None] = []
    try:
        async with bus.consume("driver", [DRIVER_TOPIC]) as consumer:
            producing = asyncio.create_task(bus.publish_many([(DRIVER_TOPIC, k, v) for k, v in values]))
            last = time.perf_counter()
            while len(keys) < len(values):
                batch = await consumer.getmany(5000, 1.0)
                if batch:
                    last = time.perf_counter()
                stalled(f"{bus.name}_driver", len(keys), len(values), time.perf_counter() - last)
                keys += [m.key for m in batch]
                await consumer.ack_many(batch)
            await producing
    finally:
        await bus.stop()
    check_received(f"{bus.name}_driver", keys, values)


async def through_pipeline(bus: Bus, events: list[Envelope]) -> None:
    store = CountingStore()
    try:
        result = await run_pipeline([PassThrough()], events, bus=bus, store=store, flags={}, flags_digest="bench",
                                    runner_options={"max_batch": 1000, "follow_control": False})
    finally:
        await bus.stop()
    check(result.outputs == {"codex": len(events)}, f"{bus.name} pipeline outputs {result.outputs}, expected "
          f"{len(events)}")
    check(len(store.ids) == 2 * len(events) and store.ids.issuperset(e.event_id for e in events),
          f"{bus.name} pipeline persisted {len(store.ids)} distinct events, expected {2 * len(events)}")
    PERSIST_WRITES[bus.name] = store.writes / len(events)


def timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def one_round(events: list[Envelope], values: list[tuple[str, bytes]], rotation: int) -> dict[str, float]:
    """Seconds per mode for one round. The three Kafka modes share one fresh mock cluster (each on
    its own topic and group); their order rotates from round to round so none always goes first."""
    seconds: dict[str, float] = {}
    kafka_modes: dict[str, Callable[[str], Callable[[], Awaitable[None]]]] = {
        "raw_aiokafka": lambda bs: lambda: raw_aiokafka(bs, values),
        "kafka_driver": lambda bs: lambda: through_driver(KafkaBus(bootstrap=bs, **KAFKA), values),
        "kafka_pipeline": lambda bs: lambda: through_pipeline(KafkaBus(bootstrap=bs, **KAFKA), events),
    }
    order = list(kafka_modes)
    order = order[rotation % 3:] + order[:rotation % 3]
    with MockCluster(initial_rebalance_delay_ms=0, topics=(*ALL_TOPICS, RAW_TOPIC, DRIVER_TOPIC),
                     partitions=partitions_for(values)) as cluster:
        for mode in order:
            seconds[mode] = timed(kafka_modes[mode](cluster.bootstrap))
    seconds["memory_driver"] = timed(lambda: through_driver(MemoryBus(), values))
    seconds["memory_pipeline"] = timed(lambda: through_pipeline(MemoryBus(), events))
    return seconds


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="bus drivers vs raw aiokafka on the mock broker")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    events = small_events(args.events)
    values = [(e.sheet_run_id, encode(e)) for e in events]
    rounds = []
    for run in range(args.runs):
        rounds.append(one_round(events, values, run))
        print(f"round {run + 1}/{args.runs}: " + ", ".join(f"{m} {v:.2f}s" for m, v in rounds[-1].items()),
              file=sys.stderr, flush=True)
    modes = list(rounds[0])
    count = {mode: args.events * (2 if mode.endswith("pipeline") else 1) for mode in modes}
    report = {
        "benchmark": "bus", "events": args.events, "runs": args.runs, "checked": True,
        "event_bytes": round(sum(len(v) for _, v in values) / len(values)),
        "partitions": partitions_for(values),
        "machine": {**machine(), "aiokafka": version("aiokafka"), "librdkafka": version("confluent-kafka")},
        "events_counted": count,
        "seconds": {m: spread((r[m] for r in rounds), 3) for m in modes},
        "events_per_s": {m: spread((count[m] / r[m] for r in rounds), 0) for m in modes},
        # Each round's mode against that round's raw aiokafka (same cluster, minutes apart at most).
        "ratio_vs_raw_aiokafka": {
            m: spread(((count[m] / r[m]) / (args.events / r["raw_aiokafka"]) for r in rounds), 3)
            for m in modes if m != "raw_aiokafka"
        },
        "persist_writes_per_input": PERSIST_WRITES,
        "P3_target": 0.5,
    }
    emit(report)
    return report


if __name__ == "__main__":
    main()
