"""A worker process for the crash tests (killed with SIGKILL by the test, then restarted).

    crash_worker.py kafka BOOTSTRAP DB INSTANCE   one ToyIngest runner in group beamline.codex
    crash_worker.py memory DB N                   the embedded pipeline over N sheets (resubmits all)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bus_fakes import SqliteEventStore, ToyIngest, ToyRewrite, sheets  # noqa: E402

from bus.kafka import KafkaBus  # noqa: E402
from bus.memory import MemoryBus  # noqa: E402
from bus.pipeline import run_pipeline  # noqa: E402
from bus.worker import run_worker  # noqa: E402

FLAGS = {"stage.codex": True, "stage.photon": True}


async def kafka_worker(bootstrap: str, db: str, instance: str) -> None:
    bus = KafkaBus(bootstrap=bootstrap, session_timeout_ms=3000, heartbeat_interval_ms=300, provision=())
    store = SqliteEventStore(db)
    await run_worker(ToyIngest(fanout=2, delay_s=0.01), bus=bus, store=store, flags=FLAGS,
                     instance_id=instance, max_batch=8, on_ready=lambda _: print("ready", flush=True))


async def embedded(db: str, n: int) -> None:
    store = SqliteEventStore(db)
    result = await run_pipeline([ToyIngest(fanout=2, delay_s=0.002), ToyRewrite()], sheets(n),
                                bus=MemoryBus(capacity=32), store=store, flags=FLAGS,
                                runner_options={"max_batch": 8})
    print("done", result.processed, flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "kafka":
        asyncio.run(kafka_worker(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        asyncio.run(embedded(sys.argv[2], int(sys.argv[3])))
