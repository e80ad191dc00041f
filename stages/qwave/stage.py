"""The QWave stage: routed rewrite/predict beams → JAX execution → qwave, collapse and profile events.

For each input ``BeamEvent`` (stage ``rewrite`` or ``predict``) whose result has
``route == "qwave"`` it emits, in this order:

* ``BeamEvent(stage="qwave")`` — compile key, precision used, value kind/shape/dtype,
  and a ``runtime`` block {cache_hit, compile_ms, exec_ms, batch_size}; ``latency_ms``
  is compile + execution time. ``runtime`` depends on what ran before in this
  process and on which beams shared a batch, like wall-clock fields: a replay
  diff ignores ``runtime`` along with ``latency_ms`` (BeamEvent's wall-clock fields).
* ``BeamEvent(stage="collapse")`` and ``CollapseTrace`` (adapter ``"qwave"``), see
  ``collapse.collapse_events``.
* with PHASE10_ENABLED, one ``PrecisionProfile`` per profiled opcode of the cell.

Other inputs give ``[]``. A beam QWave cannot run gives exactly one ``StageError``
(stage ``qwave``) with the reason, and nothing else.

Batching (PHASE10): the runner (``bus.batches``) hands ``handle_batch(envelopes, ctx)``
every beam of its batch, after polling ``batch_wait_s`` longer for beams arriving
close together (a window bounded in time, and in size by the runner's ``max_batch``);
beams with equal compile keys run as one vmapped call of at most ``max_group``
members. ``handle`` is a batch of one. Each input's events are the same whether it
ran alone or in any batch (ids, payloads; only ``runtime`` and wall-clock fields
differ: vmapped and one-by-one execution agree bit for bit), so at-least-once
redelivery is safe and which beams happen to share a batch never changes a value.
``stats`` counts the vmapped calls made (what shows that batching really happened).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.envelope import Envelope, deterministic_event_id
from contracts.payloads import BeamEvent, CodexErrorItem, StageError
from contracts.registry import make_event
from stages.base import StageContext
from stages.codex.interp_errors import InterpreterError
from stages.qwave.collapse import collapse_events
from stages.qwave.compiler import RunResult, run_batch
from stages.qwave.errors import QWaveError
from stages.qwave.jobs import Job, prepare
from stages.qwave.measure import ATTRACTOR_EPSILON
from stages.qwave.precision import opcodes_in, plan_for, profile_opcode

# Vector beams pay off while per-call overhead matters: a stacked batch larger than
# this many input entries runs no faster than one call per cell (the work is
# compute-bound and no longer fits the cache), so bigger groups are split.
BATCH_ELEMENT_BUDGET = 1 << 18
QWAVE_BEAM_INDEX = 0
COLLAPSE_BEAM_INDEX = 1
# Vector beams: the largest vmapped group, and how long the runner waits for more beams.
MAX_GROUP = 64
BATCH_WAIT_S = 0.01
HINT = "QWave could not run this cell; the symbolic route (reference interpreter) can (raise COST_THRESHOLD)."


@dataclass
class BatchStats:
    """Executions since the stage was created: vmapped calls and the beams they carried, single calls."""

    vmapped_calls: int = 0
    vmapped_beams: int = 0
    single_calls: int = 0


class QWaveStage:
    stage_id = "qwave"
    input_topics: tuple[str, ...] = ("beamline.photon",)

    def __init__(self, *, data_dir: str | None = None, max_group: int = MAX_GROUP,
                 batch_wait_s: float = BATCH_WAIT_S, attractor_epsilon: float = ATTRACTOR_EPSILON) -> None:
        if max_group < 1 or batch_wait_s < 0:
            raise ValueError("max_group must be at least 1 and batch_wait_s not negative")
        self.data_dir = data_dir
        self.max_group = max_group
        self.batch_wait_s = batch_wait_s
        self.attractor_epsilon = attractor_epsilon
        self.stats = BatchStats()

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """Events for one input (a batch of one). May be called again for the same input."""
        return (await self.handle_batch([envelope], ctx))[0]

    async def handle_batch(self, envelopes: Sequence[Envelope], ctx: StageContext) -> list[list[Envelope]]:
        """Events per input, aligned with ``envelopes``; JAX work runs off the event loop."""
        return await asyncio.to_thread(self.process, list(envelopes), ctx)

    def process(self, envelopes: list[Envelope], ctx: StageContext) -> list[list[Envelope]]:
        outputs: list[list[Envelope]] = [[] for _ in envelopes]
        jobs: list[tuple[int, Job]] = []
        for position, envelope in enumerate(envelopes):
            try:
                job = prepare(envelope, data_dir=self.data_dir, plan_for=plan_for)
            except QWaveError as exc:
                outputs[position] = [self.error_event(envelope, ctx, exc)]
                continue
            if job is not None:
                jobs.append((position, job))
        vectorise = bool(ctx.flags.get("PHASE10_ENABLED", False))
        for group in self.groups(jobs, vectorise):
            try:
                results = run_batch(group[0][1].program, group[0][1].grid, group[0][1].plan,
                                    [job.values for _, job in group])
            except QWaveError as exc:
                for position, job in group:
                    outputs[position] = [self.error_event(job.envelope, ctx, exc)]
                continue
            self.count(len(group))
            for (position, job), result in zip(group, results, strict=True):
                outputs[position] = self.job_events(job, result, ctx, profile=vectorise)
        return outputs

    def groups(self, jobs: list[tuple[int, Job]], vectorise: bool) -> list[list[tuple[int, Job]]]:
        """Jobs with equal batch keys together, in input order; a group holds at most
        ``max_group`` jobs and, as a power of two, ``BATCH_ELEMENT_BUDGET`` input entries."""
        if not vectorise:
            return [[item] for item in jobs]
        grouped: dict[tuple[Any, ...], list[list[tuple[int, Job]]]] = {}
        order: list[list[tuple[int, Job]]] = []
        for item in jobs:
            chunks = grouped.setdefault(item[1].batch_key, [])
            if not chunks or len(chunks[-1]) >= self.group_limit(item[1]):
                chunks.append([])
                order.append(chunks[-1])
            chunks[-1].append(item)
        return order

    def group_limit(self, job: Job) -> int:
        by_budget = BATCH_ELEMENT_BUDGET // max(1, job.input_elements)
        limit = 1 << max(0, by_budget.bit_length() - 1) if by_budget >= 1 else 1
        return max(1, min(self.max_group, limit))

    def count(self, members: int) -> None:
        if members > 1:
            self.stats.vmapped_calls += 1
            self.stats.vmapped_beams += members
        else:
            self.stats.single_calls += 1

    def job_events(self, job: Job, result: RunResult, ctx: StageContext, *, profile: bool) -> list[Envelope]:
        """qwave beam + collapse events (+ profiles), or one StageError if collapsing fails."""
        parent = job.envelope
        try:
            collapsed = collapse_events(
                parent, result.value, adapter="qwave", result_fields=job.fields, ctx=ctx, stage_id=self.stage_id,
                beam_index=COLLAPSE_BEAM_INDEX, evolve_last_step=result.last_step_norm,
            )
            profiles = [profile_opcode(op) for op in opcodes_in(job.program.structure)] if profile else []
        except (ValueError, InterpreterError) as exc:
            error = exc if isinstance(exc, QWaveError) else QWaveError(f"collapse failed: {exc}", code="collapse")
            return [self.error_event(parent, ctx, error)]
        now = ctx.now()
        beam = BeamEvent(
            beam_id=deterministic_event_id(self.stage_id, parent.event_id, BeamEvent.TYPE, QWAVE_BEAM_INDEX),
            cell_id=parent.cell_id or str(parent.payload.get("cell_id", "")),
            sheet_run_id=parent.sheet_run_id,
            container_id=parent.container_id,
            eid=parent.eid,
            stage="qwave",
            token=str(parent.payload.get("token", "")),
            result=self.qwave_result(job, result),
            timestamp=now.isoformat(),
            generation=int(parent.payload.get("generation", 0)),
            latency_ms=(result.compile_s + result.exec_s) * 1000.0,
            runtime={
                "cache_hit": result.cache_hit,
                "compile_ms": result.compile_s * 1000.0,
                "exec_ms": result.exec_s * 1000.0,
                "batch_size": result.batch_size,
            },
        )
        events = [self.emit(beam, parent, ctx, QWAVE_BEAM_INDEX), *collapsed]
        events.extend(self.emit(p, parent, ctx, i) for i, p in enumerate(profiles))
        return events

    @staticmethod
    def qwave_result(job: Job, result: RunResult) -> dict[str, Any]:
        import numpy as np

        value = np.asarray(result.value)
        return {
            "route": "qwave",
            "normal_key": job.fields.get("normal_key"),
            "compile_key": job.program.structure_key,
            "inputs": len(job.program.inputs),
            "precision": job.precision,
            "precision_used": job.plan.describe(),
            "value": {"kind": result.info.kind, "shape": list(value.shape), "dtype": str(value.dtype),
                      "time": result.info.time, "components": result.info.components},
        }

    def emit(self, payload: Any, parent: Envelope, ctx: StageContext, index: int) -> Envelope:
        return make_event(payload, stage_id=self.stage_id, index=index, parent=parent, occurred_at=ctx.now(),
                          flags_digest=ctx.flags_digest, instance=ctx.instance)

    def error_event(self, parent: Envelope, ctx: StageContext, exc: QWaveError) -> Envelope:
        message = str(exc)
        cell = parent.cell_id
        item = CodexErrorItem(message=message, file=f"<cell {cell}>" if cell else "<qwave>", line=0, col=0,
                              hint=HINT, code=f"qwave-{exc.code}", rendered=f"qwave: {message}\nhint: {HINT}")
        return self.emit(StageError(stage=self.stage_id, errors=[item], cell_id=cell), parent, ctx, 0)
