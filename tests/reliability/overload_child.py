"""One overload run in a fresh process (its peak RSS is its own): N cells, bounded memory bus.

    overload_child.py CELLS SHEET_CELLS DB CAPACITY [VETO_EVERY [FLAGS_JSON]]

Runs every real stage with ``run_pipeline`` on a ``MemoryBus(capacity=CAPACITY)`` it owns
(so the bus counters can be read), with a SQLite file store, and prints one JSON line:
peak RSS, RSS after start-up, bus counters, pipeline result.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reliability_kit import ROOT, sheet_source  # noqa: E402


def own_peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM): ``ru_maxrss`` would include the forking parent's RSS (Linux keeps
    the pre-exec high-water mark), here pytest's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def main(cells: int, sheet_cells: int, db: Path, capacity: int, veto_every: int,
               overrides: dict[str, object]) -> dict[str, object]:
    from beamline.flags import digest, resolve
    from beamline.pipeline import enabled_stages, submission
    from bus.memory import MemoryBus
    from bus.pipeline import run_pipeline
    from store.beam_store import open_store

    flags = {**resolve(flags_file=ROOT / "flags.toml", environ={}), **overrides}
    initial = [
        submission(sheet_source(min(sheet_cells, cells - first), f"load{n}", first, veto_every), filename=f"load{n}.codex",
                   flags=flags, flags_digest=digest(flags), seed=n, container_id="load", run_id=f"run-load{n:03d}")
        for n, first in enumerate(range(0, cells, sheet_cells))
    ]
    store = open_store(f"sqlite:///{db}", migrate=True)
    stages = enabled_stages()
    bus = MemoryBus(capacity=capacity)
    start_rss = own_peak_rss_kib()
    began = time.perf_counter()
    try:
        # No deadlock: a pipeline that stops settling fails with PipelineError instead of hanging.
        result = await run_pipeline(stages, initial, bus=bus, store=store, flags=flags, flags_digest=digest(flags),
                                    timeout_s=3600 + cells * 0.1)
    finally:
        await bus.stop()
        store.close()
    return {
        "cells": cells, "sheets": len(initial), "capacity": capacity, "wall_s": round(time.perf_counter() - began, 2),
        "peak_rss_kib": own_peak_rss_kib(), "start_rss_kib": start_rss,
        "published": bus.stats.published, "backpressure_waits": bus.stats.backpressure_waits,
        "overdrafts": bus.stats.overdrafts, "dropped": bus.stats.dropped,
        "dead_letters": result.dead_letters, "persisted": result.persisted,
    }


if __name__ == "__main__":
    veto_every = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    overrides = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
    figures = asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), veto_every,
                               overrides))
    print(json.dumps(figures), flush=True)
