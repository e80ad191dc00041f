"""Builders for SQI tests: collapse beams, a run record, an in-memory read side."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.payloads import BeamEvent, SheetSubmitted
from contracts.registry import make_event
from stages.base import StageContext

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN = "run-1"
CONTAINER = "c1"
EID = "eid::run-1::abc"

DEFAULT_FLAGS: dict[str, Any] = {
    "SQI_W_GOAL": 1.0, "SQI_W_REWRITE": 1.0, "SQI_W_DRIFT": 1.0, "SQI_W_STABILITY": 1.0,
    "stage.sqi": True, "PHASE9_ENABLED": False,
}


class ListReader:
    """A ReadSide over a list of envelopes, with the store's filters."""

    def __init__(self, envelopes: Sequence[Envelope] = ()) -> None:
        self.envelopes = list(envelopes)

    def add(self, *envelopes: Envelope) -> None:
        self.envelopes.extend(envelopes)

    def events(
        self,
        *,
        eid: str | None = None,
        container_id: str | None = None,
        sheet_run_id: str | None = None,
        types: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> list[Envelope]:
        return [
            env for env in self.envelopes
            if (eid is None or env.eid == eid)
            and (container_id is None or env.container_id == container_id)
            and (sheet_run_id is None or env.sheet_run_id == sheet_run_id)
            and (types is None or env.type in types)
            and (event_ids is None or env.event_id in event_ids)
        ]


def submitted(basin_id: str | None = None, identity: str = "user", run: str = RUN) -> Envelope:
    return make_event(
        SheetSubmitted(sheet_run_id=run, container_id=CONTAINER, source="cell a : 1", basin_id=basin_id,
                       identity=identity),
        stage_id="cli", index=0, sheet_run_id=run, container_id=CONTAINER, occurred_at=T0,
    )


def collapse_result(**overrides: Any) -> dict[str, Any]:
    """A plausible collapse result of a finite, risk-free cell with no goal."""
    result: dict[str, Any] = {
        "normal_form": {"op": "lap", "args": [{"op": "ref", "value": "u"}]},
        "normal_key": "nk1",
        "goal": None,
        "rewrite_success_prob": 0.9,
        "cost": {"flops": 1000.0, "bytes": 4096.0, "energy": 1e-9, "delay": 1e-6, "ethics_risk": 0.0,
                 "opportunity_loss": 0.0, "total": 1000.0, "risk_flags": [], "cfl": None},
        "observables": {"norm": 1.0, "energy": 0.5, "mean": 0.1, "min": -1.0, "max": 1.0,
                        "entropy": 5.0, "finite": True},
        "goal_values": {},
        "input_entropy": 6.0,
        "attractor": None,
        "route": "qwave",
        "fork": None,
        "grid": {"shape": [8, 8], "spacing": 0.125, "boundary": "periodic", "time": None},
    }
    result.update(overrides)
    return result


def collapse(
    result: dict[str, Any] | None = None,
    *,
    cell: str = "a",
    parent: Envelope | None = None,
    index: int = 0,
    generation: int = 0,
) -> Envelope:
    payload = BeamEvent(
        beam_id=f"beam_{cell}_collapse_{index}", cell_id=cell, sheet_run_id=RUN, container_id=CONTAINER,
        eid=EID, stage="collapse", token="Δ", result=result if result is not None else collapse_result(),
        timestamp=T0.isoformat(), generation=generation,
    )
    root = parent or submitted()
    return make_event(payload, stage_id="qwave", index=index, parent=root, eid=EID, cell_id=cell,
                      occurred_at=T0)


def context(reader: ListReader | None = None, **flags: Any) -> StageContext:
    merged = {**DEFAULT_FLAGS, **flags}
    return StageContext(flags=merged, flags_digest="test", clock=lambda: T0,
                        reader=reader if reader is not None else ListReader([submitted()]))


def _attr(path: str) -> Any:
    from stages.codex.ast import Node

    return Node("attr", value=path)


def default_rule_trees() -> dict[str, Any]:
    """The default policy's predicates as trees (what the parser must produce for soullaw.toml)."""
    from stages.codex.ast import Node, num, ref

    return {
        "not beam.observables.finite": Node("not", args=(_attr("beam.observables.finite"),)),
        "cost.bytes > memory_cap_bytes": Node("gt", args=(_attr("cost.bytes"), ref("memory_cap_bytes"))),
        "cost.cfl > cfl_limit": Node("gt", args=(_attr("cost.cfl"), ref("cfl_limit"))),
        "score.qscore < 0.35": Node("lt", args=(_attr("score.qscore"), num(0.35))),
    }


def default_policy() -> Any:
    """The repository's soullaw.toml, parsed with the CodexLang parser and compiled."""
    from stages.sqi.assess import DEFAULT_POLICY_PATH
    from stages.sqi.soullaw import load_policy

    return load_policy(DEFAULT_POLICY_PATH)
