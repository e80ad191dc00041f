"""The Photon stage on real ingest beams from the Codex stage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beamline.flags import defaults
from contracts.envelope import Envelope
from contracts.payloads import SheetSubmitted
from contracts.registry import decode, encode, make_event
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.stage import CodexStage
from stages.photon.stage import PhotonStage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHEET = """sheet photon_test
grid 16x16 spacing 0.0625 boundary periodic
let u = random(seed=3)
let v = gaussian(center=(0.5, 0.5), width=0.2)
cell lapl : ∇·∇u + u - u      goal: energy < 1e9
cell diff : ∇·∇u - Δu
cell same : Δu
cell flux : ∇u ⊗ ∇u + ∇u ⊗ ∇v
cell lin  : ∇(2*u + 3*v) - 3*∇v
"""


def context(**flags: Any) -> StageContext:
    merged = {**defaults(), "COST_THRESHOLD": 2.0e5, **flags}
    return StageContext(flags=merged, flags_digest="test", clock=lambda: T0)


async def ingest_beams() -> dict[str, Envelope]:
    submitted = SheetSubmitted(sheet_run_id="run1", container_id="c1", source=SHEET, seed=5)
    root = make_event(submitted, stage_id="cli", index=0, sheet_run_id="run1", occurred_at=T0)
    out = await CodexStage().handle(root, context())
    return {e.cell_id: e for e in out if e.type == "BeamEvent" and e.cell_id}


def beams(events: list[Envelope], stage: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.type == "BeamEvent" and e.payload["stage"] == stage]


async def test_symbolic_cell_is_rewritten_verified_and_collapsed() -> None:
    beam = (await ingest_beams())["lapl"]
    events = await PhotonStage().handle(beam, context())
    assert [e.type for e in events] == ["BeamEvent", "BeamEvent", "CollapseTrace"]
    (rewrite,) = beams(events, "rewrite")
    result = rewrite["result"]
    assert Node.from_json(result["normal_form"]).op == "lap"
    assert [r["rule"] for r in result["rules"]][0] == "div_grad_to_lap"
    assert result["route"] == "symbolic" and result["threshold"] == 2.0e5
    assert result["verification"]["passes"] == result["verification"]["k"] == 8
    assert result["rewrite_success_prob"] == 0.9
    assert result["cost_after"]["flops"] < result["cost_before"]["flops"]
    for carried in ("grid", "goal", "main_input", "precision", "seed", "shape", "type"):
        assert carried in result
    assert result["fork"] is None
    (collapse,) = beams(events, "collapse")
    assert collapse["result"]["observables"]["finite"] is True
    assert collapse["result"]["route"] == "symbolic"
    assert events[2].payload["adapter"] == "photon"


async def test_failed_check_keeps_the_original_form() -> None:
    beam = (await ingest_beams())["diff"]
    events = await PhotonStage().handle(beam, context())
    result = beams(events, "rewrite")[0]["result"]
    assert result["normal_form"] == beam.payload["result"]["expanded"]
    assert result["verification"]["failed_rule"] == "div_grad_to_lap"
    assert result["rewrite_success_prob"] < 0.5


async def test_nothing_to_rewrite_is_certain() -> None:
    beam = (await ingest_beams())["same"]
    result = beams(await PhotonStage().handle(beam, context()), "rewrite")[0]["result"]
    assert result["rules"] == [] and result["rewrite_success_prob"] == 1.0


async def test_heavy_cell_goes_to_qwave_without_a_local_collapse() -> None:
    beam = (await ingest_beams())["flux"]
    events = await PhotonStage().handle(beam, context(COST_THRESHOLD=10.0))
    assert [e.payload["stage"] for e in events] == ["rewrite"]
    result = events[0].payload["result"]
    assert result["route"] == "qwave" and result["threshold"] == 10.0


async def test_overload_defers_instead_of_dropping() -> None:
    beam = (await ingest_beams())["flux"]
    ctx = context(COST_THRESHOLD=10.0, QWAVE_BACKLOG_LIMIT=5)
    calm = await PhotonStage().handle(beam, ctx)
    ctx.backlog = {"qwave": 6}
    events = await PhotonStage().handle(beam, ctx)
    assert [e.payload["stage"] for e in events] == ["deferred"]
    deferral = events[0].payload["result"]["deferral"]
    assert deferral["retry_after_s"] > 0 and deferral["attempt"] == 0 and deferral["backlog"] == 6
    ctx.deferrals = 1
    again = await PhotonStage().handle(beam, ctx)
    assert again[0].payload["result"]["deferral"]["retry_after_s"] == 2 * deferral["retry_after_s"]
    assert again[0].event_id != events[0].event_id  # each attempt's deferred beam is its own event
    ctx.backlog = {"qwave": 0}
    ctx.deferrals = 2
    routed = await PhotonStage().handle(beam, ctx)
    # Once routed, a deferred cell's events are those of a cell that was never deferred.
    assert [(e.event_id, e.payload) for e in routed] == [(e.event_id, e.payload) for e in calm]
    assert {e.event_id for e in routed}.isdisjoint({events[0].event_id, again[0].event_id})


async def test_phase9_routes_each_distinct_fork_once() -> None:
    beam = (await ingest_beams())["lin"]
    events = await PhotonStage().handle(beam, context(PHASE9_ENABLED=True))
    predicts = beams(events, "predict")
    assert 2 <= len(predicts) <= 3
    assert [p["result"]["fork"] for p in predicts] == list(range(len(predicts)))
    assert {p["result"]["fork_count"] for p in predicts} == {len(predicts)}
    assert len({p["result"]["normal_key"] for p in predicts}) == len(predicts)
    assert beams(events, "rewrite") == []
    assert len(beams(events, "collapse")) == len(predicts)  # all symbolic here


async def test_redelivery_yields_the_same_events() -> None:
    beam = (await ingest_beams())["lapl"]
    first = await PhotonStage().handle(beam, context())
    second = await PhotonStage().handle(beam, context())
    assert [encode(e) for e in first] == [encode(e) for e in second]
    assert all(decode(encode(e)) == e for e in first)


async def test_other_inputs_are_ignored_and_bad_ones_reported() -> None:
    beams_by_cell = await ingest_beams()
    stage = PhotonStage()
    rewrite = beams((await stage.handle(beams_by_cell["same"], context())), "rewrite")
    assert rewrite
    not_ingest = beams_by_cell["same"].model_copy(update={"payload": {**beams_by_cell["same"].payload,
                                                                      "stage": "rewrite"}})
    assert await stage.handle(not_ingest, context()) == []
    broken = beams_by_cell["same"].model_copy(
        update={"payload": {**beams_by_cell["same"].payload, "result": {"grid": {"shape": [4]}}}}
    )
    (error,) = await stage.handle(broken, context())
    assert error.type == "StageError" and "malformed ingest beam" in error.payload["errors"][0]["message"]
