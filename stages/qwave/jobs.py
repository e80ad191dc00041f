"""One routed beam turned into a runnable job: its program, grid, precision plan and inputs.

``prepare`` reads a rewrite/predict beam's result (``normal_form``, ``grid``,
``precision``, ``seed``) and returns a ``Job``, ``None`` for beams QWave does not
take, or raises ``QWaveError`` with a clear message for a malformed or
unsupported one. A top-level ``sample(ψ, n)`` compiles ψ; the draws are made at
collapse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contracts.envelope import Envelope
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.codex.interp_values import Field, Value
from stages.qwave.collapse import is_sample_cell
from stages.qwave.errors import QWaveError
from stages.qwave.formats import PRECISION_CHOICES, PrecisionPlan
from stages.qwave.program import Program, evaluate_inputs, input_signature, split_inputs

ROUTED_STAGES = frozenset({"rewrite", "predict"})


@dataclass(frozen=True, slots=True)
class Job:
    envelope: Envelope
    fields: Mapping[str, Any]
    normal_form: Node
    program: Program
    grid: GridSpec
    plan: PrecisionPlan
    precision: str | None
    values: list[Value]

    @property
    def input_elements(self) -> int:
        """Array entries this job feeds to its executable (sizes the vmapped batches)."""
        return sum(int(v.data.size) if isinstance(v, Field) else 1 for v in self.values)

    @property
    def batch_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys run in one vmapped call (same executable)."""
        grid = (self.grid.shape, self.grid.spacing, self.grid.boundary, self.grid.time_steps, self.grid.dt)
        return self.program.structure_key, grid, self.plan.key, input_signature(self.values)


def is_routed_here(envelope: Envelope) -> bool:
    """A BeamEvent of stage rewrite/predict whose result says ``route == "qwave"``."""
    if envelope.type != "BeamEvent":
        return False
    payload = envelope.payload
    result = payload.get("result")
    return payload.get("stage") in ROUTED_STAGES and isinstance(result, Mapping) and result.get("route") == "qwave"


def prepare(envelope: Envelope, *, data_dir: str | None, plan_for: Any) -> Job | None:
    """The job for one input beam, or None when the beam is not routed to QWave."""
    if not is_routed_here(envelope):
        return None
    fields: Mapping[str, Any] = envelope.payload["result"]
    try:
        normal_form = Node.from_json(fields["normal_form"])
        grid = GridSpec.from_json(dict(fields["grid"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise QWaveError(f"rewrite result lacks a valid normal_form/grid: {exc}", code="bad_input") from exc
    precision = fields.get("precision")
    if precision is not None and precision not in PRECISION_CHOICES:
        raise QWaveError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISION_CHOICES)}",
                         code="bad_precision")
    seed = fields.get("seed") or 0
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise QWaveError(f"seed must be a non-negative integer, got {seed!r}", code="bad_input")
    computed = normal_form.args[0] if is_sample_cell(normal_form) and normal_form.args else normal_form
    program = split_inputs(computed)
    plan: PrecisionPlan = plan_for(computed, precision)
    values = evaluate_inputs(program, grid, seed=seed, data_dir=data_dir)
    return Job(envelope, fields, normal_form, program, grid, plan, precision, values)
