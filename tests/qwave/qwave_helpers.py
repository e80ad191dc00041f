"""Builders shared by the QWave tests: routed rewrite beams, a fixed-clock context, value comparison."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from contracts.envelope import Envelope
from contracts.payloads import BeamEvent
from contracts.registry import make_event
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.goals import operand_key
from stages.codex.grid import GridSpec

FIXED_NOW = datetime(2025, 1, 1, tzinfo=UTC)


def context(**flags: Any) -> StageContext:
    merged = {"PHASE10_ENABLED": False, **flags}
    return StageContext(flags=merged, flags_digest="test-flags", clock=lambda: FIXED_NOW)


def rewrite_beam(
    normal_form: Node,
    grid: GridSpec,
    *,
    cell_id: str = "c1",
    run_id: str = "run1",
    eid: str | None = None,
    precision: str | None = None,
    goal: Node | None = None,
    main_input: Node | None = None,
    seed: int = 0,
    route: str = "qwave",
    stage: str = "rewrite",
    index: int = 0,
) -> Envelope:
    """A Photon rewrite beam as QWave receives it (root event of its own run)."""
    result = {
        "normal_form": normal_form.to_json(),
        "normal_key": operand_key(normal_form),
        "grid": grid.to_json(),
        "precision": precision,
        "goal": goal.to_json() if goal is not None else None,
        "main_input": main_input.to_json() if main_input is not None else None,
        "seed": seed,
        "route": route,
        "rewrite_success_prob": 1.0,
        "cost": {"flops": 1e6, "risk_flags": []},
        "rules": [{"rule": "example", "before": {"op": "num", "value": 1}, "after": {"op": "num", "value": 1}}],
    }
    beam = BeamEvent(beam_id=f"b-{cell_id}", cell_id=cell_id, sheet_run_id=run_id, container_id="box",
                     eid=eid or f"eid::{run_id}::{cell_id}", stage=stage, token="Δ", result=result,
                     timestamp=FIXED_NOW.isoformat())
    return make_event(beam, stage_id="photon", index=index, sheet_run_id=run_id, container_id="box",
                      eid=eid or f"eid::{run_id}::{cell_id}", cell_id=cell_id, occurred_at=FIXED_NOW)


def relative_gap(actual: Any, expected: Any) -> float:
    """max |a − b| / max(|b|, 1): one number to hold against a per-dtype tolerance."""
    a = np.asarray(actual).astype(np.complex128)
    b = np.asarray(expected).astype(np.complex128)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1.0))


def without_runtime(envelope: Envelope) -> dict[str, Any]:
    """An event's payload minus what legitimately differs between runs (wall clock, runtime block)."""
    payload = dict(envelope.payload)
    for key in ("timestamp", "latency_ms", "results", "runtime"):
        payload.pop(key, None)
    if isinstance(payload.get("result"), dict):
        payload["result"] = {k: v for k, v in payload["result"].items() if k != "runtime"}
    return {"event_id": envelope.event_id, "type": envelope.type, "payload": payload}
