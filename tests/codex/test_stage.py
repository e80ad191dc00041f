"""The Codex stage: SheetSubmitted in; links, ingest beams and HUD messages (or one StageError) out."""

from __future__ import annotations

from codex_testkit import T0, context, submitted

from bus.topics import CODEX, topic_for
from contracts.envelope import Envelope
from contracts.registry import decode, encode
from stages.codex.ast import Node
from stages.codex.eids import eid_for
from stages.codex.parser import parse_expr
from stages.codex.stage import CodexStage

RESULT_KEYS = {"ast", "expanded", "goal", "precision", "deps", "type", "shape", "grid", "main_input", "cost",
               "seed", "source"}


async def run(source: str, **flags: object) -> tuple[Envelope, list[Envelope]]:
    parent = submitted(source)
    return parent, await CodexStage().handle(parent, context(**flags))


async def test_heat_sheet_becomes_links_then_beams_in_topological_order(heat_source: str) -> None:
    parent, events = await run(heat_source)
    kinds = [e.type for e in events]
    assert kinds == ["EntanglementLink"] * 4 + ["BeamEvent", "GlyphExecution"] * 5
    links = [e.payload for e in events[:4]]
    assert links[0]["members"] == ["heat", "lap"] and links[0]["eid"] == eid_for("run-1", ["heat", "lap"])
    beams = [e for e in events if e.type == "BeamEvent"]
    assert [b.cell_id for b in beams] == ["heat", "lap", "flux", "fringe", "step"]
    for env in events:
        assert decode(encode(env)) == env  # valid contracts
        assert topic_for(env) == CODEX
        assert env.causation_id == parent.event_id and env.producer.stage == "codex"
        assert env.occurred_at == T0 and env.flags_digest == "digest-1" and env.sheet_run_id == "run-1"
    heat = beams[0]
    assert heat.eid == beams[1].eid == links[0]["eid"] and beams[2].eid != heat.eid
    payload = heat.payload
    assert payload["stage"] == "ingest" and payload["token"] == "+" and payload["generation"] == 0
    assert payload["beam_id"] == heat.event_id and payload["timestamp"] == T0.isoformat()
    result = payload["result"]
    assert set(result) == RESULT_KEYS
    assert Node.from_json(result["ast"]) == parse_expr("u + dt * ∇·(k * ∇u)")
    assert Node.from_json(result["expanded"]).op == "add"
    assert Node.from_json(result["goal"]).op == "lt"
    assert result["deps"] == ["u", "dt", "k"] and result["seed"] == 7 and result["precision"] is None
    assert result["type"] == {"kind": "field", "components": None, "time": False, "complex": False}
    assert result["shape"] == [64, 64]
    assert result["grid"] == {"shape": [64, 64], "spacing": 0.02, "boundary": "periodic", "time": None}
    assert Node.from_json(result["main_input"]).value == "gaussian"
    assert result["cost"]["flops"] > 0 and result["cost"]["risk_flags"] == []
    step = beams[4].payload
    assert step["token"] == "⟲" and step["result"]["cost"]["cfl"] == 1.0
    hud = events[5].payload
    assert hud["glyph"] == "+" and hud["source"] == "codex" and hud["cell_id"] == "heat"
    assert hud["cost"] == result["cost"]["total"] and set(hud["detail"]) == {
        "energy", "ethics_risk", "delay", "opportunity_loss"}


async def test_redelivery_yields_identical_events(heat_source: str) -> None:
    _, first = await run(heat_source)
    _, second = await run(heat_source)
    assert first == second
    assert len({e.event_id for e in first}) == len(first)


async def test_a_sheet_with_errors_yields_one_stage_error_with_every_error() -> None:
    source = "cell a : uu\ncell b : (x\ncell c : ∇·x\n"
    _, events = await run(source)
    assert [e.type for e in events] == ["StageError"]
    error = events[0].payload
    assert error["stage"] == "codex"
    assert [(i["line"], i["code"]) for i in error["errors"]] == [(1, "unknown-name"), (2, "syntax"), (3, "type")]
    assert error["errors"][2]["rendered"].startswith("sheet.codex:3:12: type error: ∇· expects a vector field")
    assert topic_for(events[0]) == CODEX


async def test_parsed_but_unsupported_constructs_are_stage_errors() -> None:
    for source in ("cell a : score.qscore\n", 'cell a : load("f.npy")\n', "cell a : (1, 2)\n",
                   "cell a : " + "(" * 400 + "x" + ")" * 400 + "\n"):
        _, events = await run(source)
        assert [e.type for e in events] == ["StageError"], source


async def test_other_inputs_are_ignored() -> None:
    parent = submitted("cell a : x\n")
    other = parent.model_copy(update={"type": "FlagChanged"})
    assert await CodexStage().handle(other, context()) == []


async def test_precision_and_threshold_flag_reach_the_beam() -> None:
    _, events = await run("cell a : Δx precision bf16\n", COST_THRESHOLD=10.0)
    beam = next(e for e in events if e.type == "BeamEvent")
    assert beam.payload["result"]["precision"] == "bf16"
    cost = beam.payload["result"]["cost"]
    assert cost["total"] == cost["flops"] / 10.0
