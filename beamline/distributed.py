"""A sheet run on Kafka with one ``beamline worker`` process per stage (the demo's ``--bus kafka``).

The embedded run hosts every stage in one process; here each stage registered in
``stages.registry`` runs as its own ``beamline --bus kafka worker STAGE`` process,
all sharing one store (a SQLite file in WAL mode on one machine, PostgreSQL for
many). This process only creates the store, submits the sheet, watches, and stops
the workers.

Completion is decided from two independent records, both required:

* the bus: every stage group's consumer lag is zero. A worker commits an input
  only after its outputs are published and persisted, so zero lag everywhere
  means no message waits and no handler is in flight;
* the store: every ingested cell has a terminal record (an ``approved`` or
  ``vetoed`` beam, or a StageError naming it) — checked only when every stage is
  enabled, since a disabled stage legitimately leaves cells undecided.

Lag is read group by group, so a message moving between two groups during one
scan could be missed; the run is complete only after two consecutive quiet
checks with the store's ``seq`` unchanged between them. A run that does not
settle within ``timeout_s`` raises ``DistributedRunError`` naming what is pending.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beamline.config import CONFIG
from beamline.summary import RunSummary, summarise
from contracts.envelope import Envelope

ROOT = Path(__file__).resolve().parents[1]
READY_MARK = "consuming"  # `beamline worker` prints "worker STAGE consuming TOPICS in group G" once joined
TERMINAL_BEAMS = frozenset({"approved", "vetoed"})


class DistributedRunError(RuntimeError):
    """A worker failed, or the run did not complete in time."""


@dataclass
class WorkerProcess:
    """One ``beamline worker`` process. A restart (``restart_worker``) appends to the same log,
    so ``log_start`` marks where this incarnation's output begins."""

    stage_id: str
    process: subprocess.Popen[bytes]
    log: Path
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    instance_id: str | None = None
    log_start: int = 0

    @property
    def name(self) -> str:
        return f"{self.stage_id}[{self.instance_id}]" if self.instance_id else self.stage_id

    def output(self, tail: int = 2000) -> str:
        with self.log.open("rb") as text:
            text.seek(self.log_start)
            return text.read().decode("utf-8", errors="replace")[-tail:]

    def ready(self) -> bool:
        return READY_MARK in self.output(100_000)

    def assigned(self) -> bool:
        """Whether this incarnation has been handed its partitions (it joined its group)."""
        from bus.kafka_members import ASSIGNED_MARK

        return ASSIGNED_MARK in self.output(1_000_000)

    def held(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition)s this incarnation holds now, as its log tells."""
        from bus.kafka_members import partitions_held

        return partitions_held(self.output(1_000_000))

    def final_line(self) -> str:
        """The worker's last line: ``worker STAGE stopped: N processed, …`` after a clean stop."""
        lines = self.output().strip().splitlines()
        return lines[-1] if lines else f"worker {self.name}: no output"


@dataclass(frozen=True)
class Watch:
    """One completion check: what is still pending."""

    lag: int
    seq: int
    cells: int
    undecided: tuple[str, ...]

    @property
    def quiet(self) -> bool:
        return self.lag == 0 and not self.undecided


def stage_groups() -> list[tuple[str, str, tuple[str, ...]]]:
    """(stage id, consumer group, input topics) of every registered stage, without building the stages."""
    import importlib

    from bus.runner import group_for
    from stages.registry import STAGE_CLASSES

    found = []
    for stage_id, (module, cls) in STAGE_CLASSES.items():
        topics = tuple(getattr(importlib.import_module(module), cls).input_topics)
        found.append((stage_id, group_for(stage_id), topics))
    return found


def flag_arguments(extra_flags: Mapping[str, Any]) -> list[str]:
    """The global options that give a worker the same flags as this process."""
    args = ["--flags", str(CONFIG.flags_file)] if CONFIG.flags_file else []
    assignments = list(CONFIG.cli_flags) + [
        f"{name}={str(value).lower() if isinstance(value, bool) else value}" for name, value in extra_flags.items()
    ]
    for assignment in assignments:
        args += ["--flag", assignment]
    return args


def start_worker(stage_id: str, *, bootstrap: str, store_url: str, flag_args: Sequence[str], log_dir: Path,
                 instance_id: str | None = None) -> WorkerProcess:
    """``beamline --bus kafka worker STAGE [--instance-id ID]`` with its output in ``log_dir``.

    ``instance_id`` is the worker's static group membership id: started again under it
    (``restart_worker``), a killed worker takes its partitions back at once instead of
    after the group's session timeout.
    """
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    command = [sys.executable, "-c", "from beamline.cli import main; main()",
               "--bus", "kafka", "--store", store_url, *flag_args, "worker", stage_id]
    if instance_id is not None:
        command += ["--instance-id", instance_id]
    suffix = f"-{instance_id}" if instance_id is not None else ""
    return _spawn(stage_id, log_dir / f"worker-{stage_id}{suffix}.log", tuple(command), env, instance_id)


def restart_worker(worker: WorkerProcess) -> WorkerProcess:
    """The same command again (same stage, same member id), its output appended to the same log."""
    if worker.process.poll() is None:
        raise DistributedRunError(f"worker {worker.name} is still running (pid {worker.process.pid})")
    return _spawn(worker.stage_id, worker.log, worker.command, worker.env, worker.instance_id)


def _spawn(stage_id: str, log: Path, command: tuple[str, ...], env: dict[str, str],
           instance_id: str | None) -> WorkerProcess:
    log_start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as sink:  # a file, never a pipe that could fill up and block the worker
        # S603: this interpreter running our own CLI, with arguments built here
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    return WorkerProcess(stage_id, process, log, command, env, instance_id, log_start)


def start_workers(stage_ids: Sequence[str], *, bootstrap: str, store_url: str, flag_args: Sequence[str],
                  log_dir: Path) -> list[WorkerProcess]:
    """One worker per stage id (dynamic membership)."""
    return [start_worker(stage_id, bootstrap=bootstrap, store_url=store_url, flag_args=flag_args, log_dir=log_dir)
            for stage_id in stage_ids]


def check_alive(workers: Sequence[WorkerProcess]) -> None:
    for worker in workers:
        code = worker.process.poll()
        if code is not None:
            raise DistributedRunError(f"worker {worker.name} exited with code {code}:\n{worker.output()}")


async def wait_ready(workers: Sequence[WorkerProcess], timeout_s: float) -> None:
    await _wait_for_all(workers, WorkerProcess.ready, "not ready", timeout_s)


async def wait_assigned(workers: Sequence[WorkerProcess], timeout_s: float) -> None:
    """Until every worker holds its partitions: its group has formed (``ready`` is only subscribed)."""
    await _wait_for_all(workers, WorkerProcess.assigned, "not in their groups", timeout_s)


async def _wait_for_all(workers: Sequence[WorkerProcess], done: Callable[[WorkerProcess], bool], failure: str,
                        timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(done(w) for w in workers):
        check_alive(workers)
        if time.monotonic() > deadline:
            waiting = ", ".join(w.name for w in workers if not done(w))
            raise DistributedRunError(f"workers {failure} after {timeout_s:.0f}s: {waiting}")
        await asyncio.sleep(0.2)


def stop_workers(workers: Sequence[WorkerProcess], grace_s: float = 30.0) -> list[str]:
    """SIGTERM every worker (each finishes its batch and leaves its group); kill what outlives the grace."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    problems = []
    deadline = time.monotonic() + grace_s
    for worker in workers:
        try:
            code = worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
            problems.append(f"worker {worker.name} did not stop within {grace_s:.0f}s and was killed")
            continue
        if code not in (0, -signal.SIGTERM):
            problems.append(f"worker {worker.name} exited with code {code}:\n{worker.output()}")
    return problems


def undecided_cells(events: Sequence[Envelope]) -> tuple[str, ...]:
    """Ingested cells with no terminal record yet."""
    ingested: list[str] = []
    decided: set[str] = set()
    for env in events:
        if env.type == "BeamEvent" and env.cell_id:
            stage = env.payload.get("stage")
            if stage == "ingest":
                ingested.append(env.cell_id)
            elif stage in TERMINAL_BEAMS:
                decided.add(env.cell_id)
        elif env.type == "StageError" and env.cell_id:
            decided.add(env.cell_id)
    return tuple(dict.fromkeys(c for c in ingested if c not in decided))


async def watch(bus: Any, groups: Sequence[tuple[str, str, tuple[str, ...]]], store: Any, run_id: str,
                expect_decisions: bool) -> Watch:
    lag = 0
    for _, group, topics in groups:
        lag += await bus.lag(group, topics)
    seq = int(store.max_seq())
    events = store.events(sheet_run_id=run_id)
    undecided = undecided_cells(events) if expect_decisions else ()
    cells = sum(1 for e in events if e.type == "BeamEvent" and e.payload.get("stage") == "ingest")
    return Watch(lag, seq, cells, undecided)


async def await_completion(
    bus: Any, groups: Sequence[tuple[str, str, tuple[str, ...]]], store: Any, run_id: str, *,
    workers: Sequence[WorkerProcess], expect_decisions: bool, timeout_s: float, poll_s: float = 0.5,
    progress: Callable[[Watch], None] | None = None,
) -> Watch:
    deadline = time.monotonic() + timeout_s
    previous: Watch | None = None
    quiet_in_a_row = 0
    while True:
        check_alive(workers)
        current = await watch(bus, groups, store, run_id, expect_decisions)
        if progress is not None:
            progress(current)
        unchanged = previous is not None and previous.seq == current.seq
        quiet_in_a_row = quiet_in_a_row + 1 if current.quiet and unchanged else 0
        if quiet_in_a_row >= 2:
            return current
        if time.monotonic() > deadline:
            pending = ", ".join(current.undecided[:10]) or "none"
            raise DistributedRunError(
                f"run {run_id} not complete after {timeout_s:.0f}s: {current.lag} messages pending on the bus, "
                f"cells without a decision: {pending} (see the workers' logs)")
        previous = current
        await asyncio.sleep(poll_s)


def run_sheet_distributed(
    source: str,
    *,
    filename: str,
    seed: int,
    run_id: str,
    container_id: str = "default",
    extra_flags: dict[str, Any] | None = None,
    bootstrap: str | None = None,
    timeout_s: float = 600.0,
    show_progress: bool = True,
) -> RunSummary:
    """Submit ``source`` on Kafka, run it with one worker process per stage, return the run's summary."""
    from beamline import flags as flag_config
    from beamline.commands_core import current_flags
    from beamline.pipeline import submission
    from beamline.runner_cli import latest_basin_id
    from beamline.storeutil import open_configured_store

    servers = bootstrap or os.environ.get("KAFKA_BOOTSTRAP", "")
    if not servers:
        raise DistributedRunError("--bus kafka needs KAFKA_BOOTSTRAP (start scripts/kafka_mock_broker.py for a "
                                  "local mock broker)")
    extra = dict(extra_flags or {})
    flags = {**current_flags(), **extra}
    store = open_configured_store(CONFIG.store_url)  # created here, before any worker opens it
    try:
        submitted = submission(
            source, filename=filename, flags=flags, flags_digest=flag_config.digest(flags), seed=seed,
            container_id=container_id, run_id=run_id, basin_id=latest_basin_id(store, container_id),
        )
        expect_decisions = all(flags.get(f"stage.{s}", True) for s in flag_config.STAGE_IDS)
        with tempfile.TemporaryDirectory(prefix="beamline-workers-") as log_dir:
            reports = asyncio.run(_drive(submitted, store, servers, flag_arguments(extra), Path(log_dir),
                                         expect_decisions, timeout_s, show_progress))
        if show_progress:
            for line in reports:
                print(line)
        from beamline.basin_update import update_container_basin

        update_container_basin(store, container_id, run_id)
        return summarise(run_id, store.iter_events(sheet_run_id=run_id))
    finally:
        store.close()


async def _drive(submitted: Envelope, store: Any, bootstrap: str, flag_args: list[str], log_dir: Path,
                 expect_decisions: bool, timeout_s: float, show_progress: bool) -> list[str]:
    """Start the workers, submit, wait for completion, stop them; returns each worker's final line."""
    from bus.kafka import KafkaBus
    from bus.publish import records_of
    from bus.runner import persist_events

    groups = stage_groups()
    started = time.monotonic()
    workers = start_workers([s for s, _, _ in groups], bootstrap=bootstrap, store_url=CONFIG.store_url,
                            flag_args=flag_args, log_dir=log_dir)
    bus = KafkaBus(bootstrap=bootstrap, provision=())  # topics are the broker's business (the mock pre-creates)
    problems: list[str] = []
    try:
        await wait_ready(workers, timeout_s)
        await bus.start()
        await persist_events(store, [submitted])  # persisted before published, as the embedded pipeline does
        await bus.publish_many(records_of([submitted]))
        remaining = max(1.0, timeout_s - (time.monotonic() - started))
        await _with_progress(bus, groups, store, submitted.sheet_run_id, workers, expect_decisions,
                             remaining, show_progress)
    finally:
        await bus.stop()
        problems = stop_workers(workers)
    if problems:
        raise DistributedRunError("; ".join(problems))
    return [w.final_line() for w in workers]


async def _with_progress(bus: Any, groups: Any, store: Any, run_id: str, workers: Sequence[WorkerProcess],
                         expect_decisions: bool, timeout_s: float, show_progress: bool) -> None:
    if not show_progress:
        await await_completion(bus, groups, store, run_id, workers=workers, expect_decisions=expect_decisions,
                               timeout_s=timeout_s)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(f"running on {len(workers)} workers", total=None, detail="")

        def on_progress(w: Watch) -> None:
            decided = w.cells - len(w.undecided)
            bar.update(task, detail=f"{decided}/{w.cells} cells decided · {w.lag} pending on the bus")

        await await_completion(bus, groups, store, run_id, workers=workers, expect_decisions=expect_decisions,
                               timeout_s=timeout_s, progress=on_progress)
