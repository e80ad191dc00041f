"""One stage runner as a long-lived process (``beamline worker STAGE``).

Several workers of the same stage share its consumer group and split the
partitions; SIGINT/SIGTERM stop a worker cleanly (current batch finished and
acknowledged, group left). A worker with an ``instance_id`` uses static group
membership, so restarting it under the same id takes its partitions back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping
from typing import Any

from bus.base import Bus
from bus.runner import RunnerStats, StageRunner
from stages.base import Stage


async def run_worker(
    stage: Stage,
    *,
    bus: Bus,
    store: Any,
    flags: Mapping[str, Any],
    flags_digest: str | None = None,
    instance_id: str | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[StageRunner], None] | None = None,
    handle_signals: bool = True,
    **runner_options: Any,
) -> RunnerStats:
    """Run ``stage`` on ``bus`` until ``stop`` is set or SIGINT/SIGTERM arrives; returns its stats.

    The bus is started here and stopped on the way out.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    await bus.start()
    runner = StageRunner(
        stage, bus=bus, store=store, flags=flags, flags_digest=flags_digest,
        instance_id=instance_id or "0", member_id=instance_id, **runner_options,
    )
    task = asyncio.create_task(runner.run(), name=f"worker:{stage.stage_id}")
    stopper = asyncio.create_task(stop.wait())
    try:
        ready = asyncio.create_task(runner.ready.wait())
        await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if runner.ready.is_set() and on_ready is not None:
            on_ready(runner)
        await asyncio.wait([stopper, task], return_when=asyncio.FIRST_COMPLETED)
        runner.stop()
        await task  # re-raises a runner failure
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for signum in signals:
            loop.remove_signal_handler(signum)
        await bus.stop()
    return runner.stats
