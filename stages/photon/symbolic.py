"""The symbolic route: evaluate a normal form with the reference interpreter, then collapse it.

Collapse (observables, goal operand values, input entropy, attractor, the
``CollapseTrace``) is the QWave engineer's pure module ``stages.qwave.collapse``,
shared by both routes so a cell collapses to the same numbers either way; this
module only supplies the value the interpreter computes (adapter ``"photon"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.envelope import Envelope
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.grid import GridSpec


def evaluate_form(normal_form: Node, grid: GridSpec, *, seed: int, data_dir: str | None) -> tuple[Any, float | None]:
    """(value to collapse, ‖x_n − x_{n−1}‖ of a top-level evolve or None).

    For ``sample(ψ, n)`` the value is ψ: collapse measures ψ and draws the samples itself.
    """
    from stages.codex.interpreter import evaluate_with_trace
    from stages.qwave.collapse import is_sample_cell

    target = normal_form.args[0] if is_sample_cell(normal_form) else normal_form
    evaluation = evaluate_with_trace(target, grid, seed=seed, data_dir=data_dir)
    last_step = evaluation.evolve.last_step_norm if evaluation.evolve is not None else None
    return evaluation.value, last_step


def symbolic_collapse(
    parent: Envelope,
    result: Mapping[str, Any],
    ctx: StageContext,
    *,
    stage_id: str,
    beam_index: int,
    trace_index: int,
    data_dir: str | None,
) -> list[Envelope]:
    """``[BeamEvent(stage="collapse"), CollapseTrace(adapter="photon")]`` for one rewrite result.

    Raises the interpreter's ``InterpreterError`` or collapse's ``ValueError``; the stage
    turns them into a ``StageError``.
    """
    from stages.qwave.collapse import collapse_events

    grid = GridSpec.from_json(dict(result["grid"]))
    node = Node.from_json(result["normal_form"])
    value, last_step = evaluate_form(node, grid, seed=int(result.get("seed") or 0), data_dir=data_dir)
    return collapse_events(
        parent, value, adapter="photon", result_fields=result, ctx=ctx, stage_id=stage_id,
        beam_index=beam_index, trace_index=trace_index, evolve_last_step=last_step,
    )
