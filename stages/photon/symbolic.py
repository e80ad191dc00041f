"""The symbolic route: evaluate a normal form with the reference interpreter, then collapse it.

Collapse (observables, goal operand values, input entropy, attractor, the
``CollapseTrace``) is the QWave engineer's pure module ``stages.qwave.collapse``,
shared by both routes so a cell collapses to the same numbers either way; this
module only supplies the value the interpreter computes (adapter ``"photon"``).

A form's value is a pure function of the form, the grid and the seed (``random()``
and ``sample`` draw from the seed) — unless it ``load``s a file, whose contents
may change between cells. So ``Evaluations`` remembers the values of load-free
forms by (the form's JSON, grid, seed): a repeated structure is evaluated once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from contracts.envelope import Envelope
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.memo import BoundedLRU

EVALUATION_CACHE_SIZE = 256
# Larger values are recomputed rather than kept: 256 entries stay under 32 MiB.
MAX_CACHED_VALUE_BYTES = 128 * 1024
Evaluated = tuple[Any, float | None]
# In a form's sorted-key JSON, a call of load() reads ..."op":"call","value":"load"...
LOAD_CALL = b'"value":"load"'


class Evaluations:
    """Bounded memory of ``evaluate_form`` for forms that read no file (module docstring).

    Keyed by the form's JSON as the rewrite beam carries it (sorted keys): equal JSON is an
    equal form, and a repeated form needs no parsing. Arrays are copied in and out, so what
    a caller does with its value never reaches the cache or another caller.
    """

    def __init__(self, capacity: int = EVALUATION_CACHE_SIZE) -> None:
        self.values: BoundedLRU[str, Evaluated] = BoundedLRU(capacity)

    def evaluate(
        self, form_json: Mapping[str, Any], grid: GridSpec, *, seed: int, data_dir: str | None
    ) -> Evaluated:
        text = orjson.dumps(form_json, option=orjson.OPT_SORT_KEYS)
        if LOAD_CALL in text:  # also a "load" string literal: then simply not remembered
            return evaluate_form(Node.from_json(form_json), grid, seed=seed, data_dir=data_dir)
        key = f"{hashlib.blake2b(text, digest_size=16).hexdigest()}|{grid!r}|{seed}"
        hit = self.values.get(key)
        if hit is not None:
            return _fresh(hit[0]), hit[1]
        value, last_step = evaluate_form(Node.from_json(form_json), grid, seed=seed, data_dir=data_dir)
        if _keepable(value):
            self.values.put(key, (_fresh(value), last_step))
        return value, last_step


def _keepable(value: object) -> bool:
    """Arrays of modest size and immutable scalars; anything else is recomputed each time."""
    if isinstance(value, np.ndarray):
        return value.nbytes <= MAX_CACHED_VALUE_BYTES
    return isinstance(value, bool | int | float | complex | str | np.generic)


def _fresh(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def evaluate_form(normal_form: Node, grid: GridSpec, *, seed: int, data_dir: str | None) -> Evaluated:
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
    evaluations: Evaluations | None = None,
) -> list[Envelope]:
    """``[BeamEvent(stage="collapse"), CollapseTrace(adapter="photon")]`` for one rewrite result.

    Raises the interpreter's ``InterpreterError`` or collapse's ``ValueError``; the stage
    turns them into a ``StageError``. ``evaluations`` (optional) remembers values across calls.
    """
    from stages.qwave.collapse import collapse_events

    grid = GridSpec.from_json(dict(result["grid"]))
    seed = int(result.get("seed") or 0)
    if evaluations is None:
        value, last_step = evaluate_form(Node.from_json(result["normal_form"]), grid, seed=seed, data_dir=data_dir)
    else:
        value, last_step = evaluations.evaluate(result["normal_form"], grid, seed=seed, data_dir=data_dir)
    return collapse_events(
        parent, value, adapter="photon", result_fields=result, ctx=ctx, stage_id=stage_id,
        beam_index=beam_index, trace_index=trace_index, evolve_last_step=last_step,
    )
