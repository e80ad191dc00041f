"""Crash tests: a worker process is killed with SIGKILL mid-stream and restarted.

* Kafka (mock broker in this process): two workers in one group (static
  membership); one is killed and restarted under the same instance id.
* Embedded: the memory bus dies with its process, so recovery is by resubmission:
  the whole pipeline process is killed and run again over the same sheets with
  the same file-backed store; deterministic ids make the repeats no-ops.

Either way every input's outputs must end up in the store exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bus_fakes import KAFKA_TEST_OPTIONS, SqliteEventStore, eventually, sheets

from bus.kafka import KafkaBus
from bus.topics import SHEETS
from contracts.registry import encode

WORKER = Path(__file__).with_name("crash_worker.py")


def spawn(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start the worker with stdout+stderr appended to ``log`` (never a pipe that could fill up)."""
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=sink, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def expected_cells(n: int) -> set[str]:
    return {f"run-{i:05d}.c{j}" for i in range(n) for j in range(2)}


def beams_by_cell(store: SqliteEventStore, stage: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for env in store.all_events():
        if env.type == "BeamEvent" and env.payload["stage"] == stage:
            counts[env.cell_id or ""] = counts.get(env.cell_id or "", 0) + 1
    return counts


@pytest.mark.kafka
@pytest.mark.slow
async def test_killed_kafka_worker_restarts_and_nothing_is_lost_or_doubled(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    n = 300
    db = str(tmp_path / "events.db")
    store = SqliteEventStore(db)
    bus = KafkaBus(bootstrap=kafka_bootstrap, **KAFKA_TEST_OPTIONS)
    await bus.start()
    log = tmp_path / "workers.log"
    workers = {name: spawn(log, "kafka", kafka_bootstrap, db, name) for name in ("w1", "w2")}
    try:
        await bus.publish_many([(SHEETS, e.sheet_run_id, encode(e)) for e in sheets(n)])
        await eventually(lambda: store.count("BeamEvent") >= 120, timeout=60, interval=0.05)
        workers["w1"].kill()  # SIGKILL mid-stream: no ack, no goodbye to the group
        workers["w1"].wait()
        assert store.count("BeamEvent") < 2 * n, "the kill came too late to test anything"
        workers["w1"] = spawn(log, "kafka", kafka_bootstrap, db, "w1")

        async def drained() -> bool:
            return store.count("BeamEvent") == 2 * n and await bus.lag("beamline.codex", [SHEETS]) == 0

        await eventually(drained, timeout=90, interval=0.2)
    finally:
        for process in workers.values():
            stop(process)
        await bus.stop()
    counts = beams_by_cell(store, "ingest")
    assert set(counts) == expected_cells(n)
    assert set(counts.values()) == {1}
    assert store.count("SheetSubmitted") == n
    store.close()


async def test_killed_embedded_pipeline_is_resubmitted_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    n = 300
    db = str(tmp_path / "events.db")
    store = SqliteEventStore(db)
    log = tmp_path / "pipeline.log"
    first = spawn(log, "memory", db, str(n))
    try:
        await eventually(lambda: store.count("BeamEvent") >= 150 or first.poll() is not None, timeout=60)
        first.kill()
        first.wait()
    finally:
        stop(first)
    done_before_kill = store.count("BeamEvent")
    assert done_before_kill < 4 * n, "the kill came too late to test anything"

    second = spawn(log, "memory", db, str(n))
    returncode = await asyncio.to_thread(second.wait, 120)
    assert returncode == 0, log.read_text()[-2000:]
    assert "done" in log.read_text()
    ingest, rewrite = beams_by_cell(store, "ingest"), beams_by_cell(store, "rewrite")
    assert set(ingest) == set(rewrite) == expected_cells(n)
    assert set(ingest.values()) == set(rewrite.values()) == {1}
    assert store.count() == n + 4 * n  # sheets + ingest + rewrite, each once
    assert store.redelivered() > 0  # the resubmission really re-ran work the first process had done
    store.close()
