"""Run a whole pipeline on one bus until it is quiescent (``beamline run``, the demo, replay).

``run_pipeline`` starts one ``StageRunner`` per stage, persists and publishes the
initial events, and returns when nothing is left to do. Quiescence is decided
from consumer-group lag (``Bus.lag``): a runner acknowledges an input only after
its outputs are published, and lag reads committed offsets before end offsets,
so when every stage group has zero lag after the initial events were published,
no message is waiting and no handler is in flight. This holds on the memory bus
and on Kafka alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.base import Bus, Record
from bus.codec import EventCodec, authenticator_for
from bus.publish import records_of
from bus.runner import RunnerStats, StageRunner, persist_events
from contracts.envelope import Envelope
from stages.base import Stage

log = logging.getLogger(__name__)


#: The least time between two lag readings of the settle loop (see ``_settle``).
MIN_LAG_GAP_S = 0.02

#: CPython's generation-0 threshold while a pipeline runs (default 700). A run allocates
#: millions of short-lived containers (decoded payloads, rows, KG items) that reference
#: counting frees anyway; at 700 the cyclic collector ran ~900 times in a 300-cell run and,
#: through the older generations, walked the whole heap several times: about a quarter of
#: the run's CPU. At 10,000 it runs ~14 times less often; the cyclic garbage it lets wait
#: is bounded by the threshold, not by the size of the run.
PIPELINE_GC_THRESHOLD = 10_000
_gc_holders = 0
_gc_saved: tuple[int, int, int] | None = None
_gc_froze = False


@contextlib.contextmanager
def pipeline_gc() -> Iterator[None]:
    """Raise the collector's generation-0 threshold and freeze what exists for the duration
    (nested or concurrent pipelines share it; the last one out restores the threshold set before
    the first one and unfreezes)."""
    global _gc_holders, _gc_saved, _gc_froze
    if _gc_holders == 0:
        _gc_saved = gc.get_threshold()
        gc.set_threshold(max(_gc_saved[0], PIPELINE_GC_THRESHOLD), *_gc_saved[1:])
        # What exists before the run (imported modules, the store, the stages) lives through it:
        # frozen, a full collection does not walk it again (a tenth of a second each time).
        # A process that froze objects itself keeps its own freeze untouched.
        _gc_froze = gc.get_freeze_count() == 0
        if _gc_froze:
            gc.freeze()
    _gc_holders += 1
    try:
        yield
    finally:
        _gc_holders -= 1
        if _gc_holders == 0 and _gc_saved is not None:
            if _gc_froze:
                gc.unfreeze()
            gc.set_threshold(*_gc_saved)
            _gc_saved = None


class PipelineError(RuntimeError):
    """A runner stopped with an error, or the pipeline did not settle in time."""


@dataclass(frozen=True)
class PipelineProgress:
    """A snapshot passed to the progress callback at every quiescence check."""

    processed: dict[str, int]
    outputs: int
    dead_letters: int
    pending: int
    elapsed_s: float


@dataclass
class PipelineResult:
    """What a pipeline run did. ``persisted`` counts envelopes handed to the store."""

    published: int
    processed: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    skipped_disabled: dict[str, int] = field(default_factory=dict)
    persisted: int = 0
    elapsed_s: float = 0.0

    @property
    def events(self) -> int:
        """Events produced by the stages (outputs and dead letters) plus the initial events."""
        return self.published + sum(self.outputs.values()) + self.dead_letters

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressFn = Callable[[PipelineProgress], None]


async def run_pipeline(
    stages: Sequence[Stage],
    initial: Sequence[Envelope],
    *,
    bus: Bus,
    store: Any,
    flags: Mapping[str, Any],
    flags_digest: str | None = None,
    progress: ProgressFn | None = None,
    initial_raw: Sequence[Record] = (),
    timeout_s: float | None = None,
    poll_s: float | None = None,
    runner_options: Mapping[str, Any] | None = None,
) -> PipelineResult:
    """Run ``stages`` over ``initial`` (plus raw ``initial_raw`` records) until quiescent.

    The bus is started if needed and left running (the caller owns it). The initial
    envelopes are persisted before they are published. Raises ``PipelineError``
    if a runner fails or ``timeout_s`` passes before the pipeline settles.
    """
    with pipeline_gc():
        return await _run_pipeline(stages, initial, bus=bus, store=store, flags=flags, flags_digest=flags_digest,
                                   progress=progress, initial_raw=initial_raw, timeout_s=timeout_s, poll_s=poll_s,
                                   runner_options=runner_options)


async def _run_pipeline(
    stages: Sequence[Stage],
    initial: Sequence[Envelope],
    *,
    bus: Bus,
    store: Any,
    flags: Mapping[str, Any],
    flags_digest: str | None,
    progress: ProgressFn | None,
    initial_raw: Sequence[Record],
    timeout_s: float | None,
    poll_s: float | None,
    runner_options: Mapping[str, Any] | None,
) -> PipelineResult:
    started = time.perf_counter()
    await bus.start()
    options = dict(runner_options or {})
    runners = [
        StageRunner(stage, bus=bus, store=store, flags=flags, flags_digest=flags_digest, **options)
        for stage in stages
    ]
    tasks = [asyncio.create_task(r.run(), name=f"runner:{r.stage_id}") for r in runners]
    interval = poll_s if poll_s is not None else float(getattr(bus, "lag_poll_s", 0.25))
    progressed = asyncio.Event()  # set by any runner acknowledging a batch
    for runner in runners:
        runner.progressed = progressed
    grace_s = 0.0  # on failure the runners are cancelled at once
    try:
        await _wait_ready(runners, tasks)
        codec = EventCodec(authenticator_for(flags))  # with QKD_ON the initial events are signed here
        initial = [codec.seal(env) for env in initial]
        await persist_events(store, initial)
        records = records_of(initial) + list(initial_raw)
        publisher = asyncio.create_task(bus.publish_many(records), name="pipeline:initial")
        await _settle(runners, tasks, publisher, bus, interval, progressed, started, timeout_s, progress)
        grace_s = 10.0
    finally:
        for runner in runners:
            runner.stop()
        await _finish(tasks, grace_s)
    return _result(runners, len(initial) + len(initial_raw), time.perf_counter() - started)


async def _wait_ready(runners: Sequence[StageRunner], tasks: Sequence[asyncio.Task[None]]) -> None:
    """Until every runner has joined its group; a runner failing first is raised."""
    async def all_ready() -> None:
        await asyncio.gather(*(r.ready.wait() for r in runners))

    ready = asyncio.create_task(all_ready())
    try:
        await asyncio.wait([ready, *tasks], return_when=asyncio.FIRST_COMPLETED)
        _raise_if_failed(tasks)
    finally:
        ready.cancel()
        await asyncio.gather(ready, return_exceptions=True)


def _raise_if_failed(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done():
            exc = task.exception() if not task.cancelled() else None
            raise PipelineError(f"{task.get_name()} stopped: {exc!r}") from exc


async def _settle(
    runners: Sequence[StageRunner],
    tasks: Sequence[asyncio.Task[None]],
    publisher: asyncio.Task[None],
    bus: Bus,
    interval: float,
    progressed: asyncio.Event,
    started: float,
    timeout_s: float | None,
    progress: ProgressFn | None,
) -> None:
    # Lag is read after a runner acknowledged a batch (the only moment the pipeline can have
    # become quiescent) or after ``interval`` at the latest, and never more often than every
    # ``min_gap_s``: a Kafka lag reading is several admin round trips.
    min_gap_s = min(interval, MIN_LAG_GAP_S)
    woken = asyncio.ensure_future(progressed.wait())
    try:
        while True:
            # Only what is still running: a finished publisher would wake this loop at once, every time
            # (a busy loop taking a core from the stages).
            running = [task for task in (publisher, *tasks) if not task.done()]
            await asyncio.wait([*running, woken], timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            _raise_if_failed(tasks)
            if woken.done():  # re-armed before lag is read: an ack from now on wakes the next round
                progressed.clear()
                woken = asyncio.ensure_future(progressed.wait())
            pending = sum([await bus.lag(r.group, r.topics) for r in runners])
            if publisher.done():
                publisher.result()  # re-raise a publishing failure
            elapsed = time.perf_counter() - started
            if progress is not None:
                progress(_progress(runners, pending, elapsed))
            if publisher.done() and pending == 0:
                return
            if timeout_s is not None and elapsed > timeout_s:
                raise PipelineError(f"pipeline not quiescent after {timeout_s:.0f}s: {pending} messages pending")
            await asyncio.sleep(min_gap_s)
    finally:
        woken.cancel()
        if not publisher.done():
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)


def _progress(runners: Sequence[StageRunner], pending: int, elapsed: float) -> PipelineProgress:
    return PipelineProgress(
        processed={r.stage_id: r.stats.processed for r in runners},
        outputs=sum(r.stats.outputs for r in runners),
        dead_letters=sum(r.stats.dead_letters for r in runners),
        pending=pending,
        elapsed_s=elapsed,
    )


async def _finish(tasks: Sequence[asyncio.Task[None]], grace_s: float) -> None:
    """Let stopped runners leave their groups; cancel any that does not within ``grace_s``."""
    if not tasks:
        return
    still_running = set(tasks)
    if grace_s > 0:
        _, still_running = await asyncio.wait(tasks, timeout=grace_s)
    for task in still_running:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _merge(stats: Sequence[tuple[str, RunnerStats]], pick: Callable[[RunnerStats], int]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for stage_id, st in stats:
        merged[stage_id] = merged.get(stage_id, 0) + pick(st)
    return merged


def _result(runners: Sequence[StageRunner], published: int, elapsed: float) -> PipelineResult:
    stats = [(r.stage_id, r.stats) for r in runners]
    return PipelineResult(
        published=published,
        processed=_merge(stats, lambda s: s.processed),
        outputs=_merge(stats, lambda s: s.outputs),
        dead_letters=sum(s.dead_letters for _, s in stats),
        skipped_disabled=_merge(stats, lambda s: s.skipped_disabled),
        persisted=sum(s.persisted for _, s in stats),
        elapsed_s=elapsed,
    )
