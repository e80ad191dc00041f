"""P3 — the bus drivers against raw aiokafka, side by side on the same mock broker.

For N small events (SheetSubmitted envelopes of ~300 bytes) it times, each in a
fresh librdkafka mock cluster (or a fresh memory bus):

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
SQLite). Prints one JSON object on the last line; asserts nothing.

    .venv/bin/python scripts/bench/bench_bus.py                  # 100,000 events, 5 runs
    .venv/bin/python scripts/bench/bench_bus.py --events 20000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from bus.base import Bus  # noqa: E402
from bus.kafka import KafkaBus  # noqa: E402
from bus.kafka_mock import MockCluster  # noqa: E402
from bus.memory import MemoryBus  # noqa: E402
from bus.pipeline import run_pipeline  # noqa: E402
from bus.topics import SHEETS  # noqa: E402
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
    def __init__(self) -> None:
        self.count = 0

    def persist_beam_events(self, events: list[Envelope]) -> int:
        self.count += len(events)
        return len(events)


KAFKA = {"provision": (), "session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


async def raw_aiokafka(bootstrap: str, values: list[tuple[str, bytes]]) -> None:
    """Produce N (idempotent, acks=all) while a group member consumes them with a commit per batch."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
                                max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(SHEETS, bootstrap_servers=bootstrap, group_id="raw", enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50)
    await producer.start()
    await consumer.start()

    async def produce() -> None:
        pending = [await producer.send(SHEETS, value=v, key=k.encode()) for k, v in values]
        await asyncio.gather(*pending)

    try:
        producing = asyncio.create_task(produce())
        received = 0
        while received < len(values):
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, records in batches.items():
                received += len(records)
                await consumer.commit({tp: records[-1].offset + 1})
        await producing
    finally:
        await consumer.stop()
        await producer.stop()


async def through_driver(bus: Bus, values: list[tuple[str, bytes]]) -> None:
    """The same through a bus driver: publish_many while a group member consumes and acks per batch."""
    await bus.start()
    try:
        async with bus.consume("driver", [SHEETS]) as consumer:
            producing = asyncio.create_task(bus.publish_many([(SHEETS, k, v) for k, v in values]))
            received = 0
            while received < len(values):
                batch = await consumer.getmany(5000, 1.0)
                received += len(batch)
                await consumer.ack_many(batch)
            await producing
    finally:
        await bus.stop()


async def through_pipeline(bus: Bus, events: list[Envelope]) -> None:
    store = CountingStore()
    try:
        result = await run_pipeline([PassThrough()], events, bus=bus, store=store, flags={}, flags_digest="bench",
                                    runner_options={"max_batch": 1000, "follow_control": False})
        assert result.outputs == {"codex": len(events)}, result
    finally:
        await bus.stop()


def timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def one_round(events: list[Envelope], values: list[tuple[str, bytes]]) -> dict[str, float]:
    """Seconds per mode for one round; each Kafka mode gets a fresh mock cluster."""
    seconds: dict[str, float] = {}
    kafka_modes: dict[str, Callable[[str], Callable[[], Awaitable[None]]]] = {
        "raw_aiokafka": lambda bs: lambda: raw_aiokafka(bs, values),
        "kafka_driver": lambda bs: lambda: through_driver(KafkaBus(bootstrap=bs, **KAFKA), values),
        "kafka_pipeline": lambda bs: lambda: through_pipeline(KafkaBus(bootstrap=bs, **KAFKA), events),
    }
    for mode, make in kafka_modes.items():
        with MockCluster(initial_rebalance_delay_ms=0) as cluster:
            seconds[mode] = timed(make(cluster.bootstrap))
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
    rounds = [one_round(events, values) for _ in range(args.runs)]
    modes = list(rounds[0])
    count = {mode: args.events * (2 if mode.endswith("pipeline") else 1) for mode in modes}
    median_s = {mode: statistics.median(r[mode] for r in rounds) for mode in modes}
    per_s = {mode: count[mode] / median_s[mode] for mode in modes}
    ratio_per_round = {
        mode: statistics.median((count[mode] / r[mode]) / (args.events / r["raw_aiokafka"]) for r in rounds)
        for mode in modes if mode != "raw_aiokafka"
    }
    report = {
        "benchmark": "bus",
        "events": args.events,
        "runs": args.runs,
        "event_bytes": round(sum(len(v) for _, v in values) / len(values)),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "aiokafka": version("aiokafka"), "librdkafka": version("confluent-kafka")},
        "events_counted": count,
        "median_s": {m: round(v, 3) for m, v in median_s.items()},
        "events_per_s": {m: round(v) for m, v in per_s.items()},
        "ratio_vs_raw_aiokafka": {m: round(v, 3) for m, v in ratio_per_round.items()},
        "P3_kafka_pipeline_vs_raw": round(ratio_per_round["kafka_pipeline"], 3),
        "P3_target": 0.5,
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
