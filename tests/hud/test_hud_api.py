"""The HUD's JSON API and WebSocket feed over a store filled by a real pipeline run.

One in-process run of ``examples/hud_demo.codex`` (heat_and_waves plus a cell the
default SoulLaw policy vetoes) feeds every test of the module.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from beamline.flags import digest, resolve
from beamline.pipeline import execute_embedded, new_run_id, submission
from contracts.envelope import utc_now
from contracts.payloads import FlagChanged
from contracts.registry import make_event
from hud.server import create_app
from store.beam_store import BeamStore, open_store

with warnings.catch_warnings():
    # Starlette asks for the httpx2 package; httpx (installed) works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT / "examples" / "hud_demo.codex"
FORMATS = {"fp32", "bf16", "fp8", "int8"}


@dataclass
class Filled:
    store: BeamStore
    run_id: str
    client: TestClient


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hud') / 'hud.db'}"
    store = open_store(url, migrate=True)
    flags = resolve(flags_file=ROOT / "flags.toml", environ={})

    source = SHEET.read_text(encoding="utf-8")
    run_id = new_run_id(source, 0, "default", "hud-api-test")
    submitted = submission(source, filename=SHEET.name, flags=flags, flags_digest=digest(flags), run_id=run_id)
    asyncio.run(execute_embedded([submitted], store=store, flags=flags))
    with TestClient(create_app(store)) as client:
        yield Filled(store, run_id, client)
    store.close()


def _eid_of(filled: Filled, members: list[str]) -> str:
    found = [e for e in filled.client.get("/api/eids").json()["eids"] if e["members"] == members]
    assert len(found) == 1, found
    return str(found[0]["eid"])


def test_eids_list_every_entanglement_of_the_run(filled: Filled) -> None:
    eids = filled.client.get("/api/eids").json()["eids"]
    assert {e["eid"] for e in eids} == set(filled.store.entanglement_map(filled.run_id))
    assert sorted(tuple(e["members"]) for e in eids) == sorted(
        [("heat", "lap"), ("flux",), ("fringe",), ("step",), ("blowup",)]
    )
    assert {e["run"] for e in eids} == {filled.run_id}


def test_graph_draws_the_entangled_pair_with_verdicts(filled: Filled) -> None:
    graph = filled.client.get("/api/graph").json()
    assert graph["run"] == filled.run_id
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert set(nodes) == {"heat", "lap", "flux", "fringe", "step", "blowup"}
    heat_lap = _eid_of(filled, ["heat", "lap"])
    assert graph["edges"] == [{"source": "heat", "target": "lap", "eid": heat_lap}]
    assert nodes["heat"]["eid"] == nodes["lap"]["eid"] == heat_lap
    assert nodes["blowup"]["decision"] == "vetoed"
    assert {nodes[c]["decision"] for c in ("heat", "lap", "flux", "fringe", "step")} == {"approved"}
    for node in nodes.values():
        assert -1.0 <= node["x"] <= 1.0 and -1.0 <= node["y"] <= 1.0
    # The layout is seeded: the same store draws the same map.
    assert filled.client.get(f"/api/graph?run={filled.run_id}").json() == graph
    assert filled.client.get("/api/graph?run=no-such-run").json()["nodes"] == []


def test_stats_fill_every_panel(filled: Filled) -> None:
    stats = filled.client.get("/api/stats").json()
    events = filled.store.events()
    assert stats["events"] == len(events)
    rewrites = [e for e in events if e.type == "BeamEvent" and e.payload["stage"] == "rewrite"]
    assert sum(row["cells"] for row in stats["opcodes"].values()) == len(rewrites)
    assert stats["opcodes"]["⟲"]["cells"] == 2  # step and blowup
    assert all(row["flops"] > 0 for row in stats["opcodes"].values())
    scores = [e.payload["qscore"] for e in events if e.type == "SQIScore"]
    assert stats["sqi_count"] == len(scores) == 6
    assert sum(stats["sqi_histogram"]) == len(scores)
    assert stats["sqi_histogram"][-1] == sum(1 for q in scores if q >= 0.9)
    assert stats["veto_count"] == 1
    [veto] = stats["vetoes"]
    assert veto["cell"] == "blowup" and "cfl_unstable" in veto["rules"]
    assert any("CFL" in reason for reason in veto["reasons"])
    assert stats["precision"], "PHASE10 profiles precision of the QWave cells"
    for profile in stats["precision"].values():
        assert profile["recommended"] in FORMATS
        assert set(profile["errors"]) <= FORMATS
        # JSON cannot carry the precision stage's overflow cap; the API sends null instead.
        assert all(err is None or 0.0 <= err < 1e300 for err in profile["errors"].values())


def test_stats_count_the_runs_compile_cache_hits_and_misses(filled: Filled) -> None:
    cache = filled.client.get("/api/stats").json()["compile_cache"]
    qwave = [e.payload for e in filled.store.events(sheet_run_id=filled.run_id)
             if e.type == "BeamEvent" and e.payload["stage"] == "qwave"]
    assert qwave, "the demo sheet runs cells on QWave"
    hits = sum(1 for p in qwave if p["runtime"]["cache_hit"])
    assert cache["runs"][filled.run_id] == {"hits": hits, "misses": len(qwave) - hits}
    assert cache["misses"] >= 1  # a fresh process compiled something for this run
    assert (cache["hits"], cache["misses"]) == (hits, len(qwave) - hits)  # the only run in this store


def test_replay_steps_through_every_event_of_the_eid(filled: Filled) -> None:
    eid = _eid_of(filled, ["heat", "lap"])
    replay = filled.client.get(f"/api/replay/{eid}").json()
    recorded = filled.store.events(eid=eid)
    assert replay["members"] == ["heat", "lap"] and replay["run"] == filled.run_id
    assert [row["type"] for row in replay["events"]] == [e.type for e in recorded]
    assert [row["seq"] for row in replay["events"]] == list(range(len(recorded)))
    assert {row["cell"] for row in replay["events"]} == {None, "heat", "lap"}
    assert "approved" in {row["stage"] for row in replay["events"]}
    last_two = filled.client.get(f"/api/replay/{eid}?last=2").json()["events"]
    kept = {e.event_id for cell in ("heat", "lap", None) for e in [r for r in recorded if r.cell_id == cell][-2:]}
    assert [(row["cell"], row["type"]) for row in last_two] == [
        (e.cell_id, e.type) for e in recorded if e.event_id in kept
    ]
    assert filled.client.get("/api/replay/eid::nope::0").status_code == 404
    assert filled.client.get(f"/api/replay/{eid}?last=-1").status_code == 422


def _receive_beams(socket: Any, count: int) -> list[dict[str, Any]]:
    beams: list[dict[str, Any]] = []
    while len(beams) < count:
        beams.extend(socket.receive_json()["beams"])
    return beams


def test_websocket_delivers_stored_beams_in_seq_order(filled: Filled) -> None:
    stored = filled.store.events_with_seq(0)
    with filled.client.websocket_connect("/ws?after=0") as socket:
        beams = _receive_beams(socket, len(stored))
    assert [b["seq"] for b in beams] == [seq for seq, _ in stored]
    assert [b["type"] for b in beams] == [env.type for _, env in stored]
    approved = [b for b in beams if b["stage"] == "approved"]
    assert {b["cell"] for b in approved} == {"heat", "lap", "flux", "fringe", "step"}
    assert [b["cell"] for b in beams if b["stage"] == "vetoed"] == ["blowup"]


def test_websocket_follows_new_events_as_they_are_stored(filled: Filled) -> None:
    start = filled.store.max_seq()
    with filled.client.websocket_connect(f"/ws?after={start}") as socket:
        live = make_event(FlagChanged(name="COST_THRESHOLD", value=1.0e5), stage_id="hud-test", index=0,
                          sheet_run_id="run-hud-live", occurred_at=utc_now())
        assert filled.store.persist_beam_events([live]) == 1
        [beam] = socket.receive_json()["beams"]
    assert beam["seq"] > start and beam["type"] == "FlagChanged" and beam["run"] == "run-hud-live"
    assert beam["fields"] == {"name": "COST_THRESHOLD", "value": 1.0e5}


def test_websocket_refuses_a_cross_site_page(filled: Filled) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as refused:
        with filled.client.websocket_connect("/ws", headers={"origin": "http://evil.example"}):
            pass
    assert refused.value.code == 1008


def test_hud_is_read_only_and_local_by_default(filled: Filled) -> None:
    from hud.commands import hud

    methods = set()
    for route in filled.client.app.routes:  # type: ignore[attr-defined]
        methods |= set(getattr(route, "methods", None) or ())
    assert methods <= {"GET", "HEAD"}
    assert filled.client.post("/api/eids").status_code == 405
    assert filled.client.get("/static/..%2Fserver.py").status_code == 404
    assert inspect.signature(hud).parameters["host"].default == "127.0.0.1"
    page = filled.client.get("/")
    assert page.status_code == 200 and "Beamline HUD" in page.text
    for attribute in ('src="http', "src='http", 'href="http', "href='http", 'src="//', 'href="//'):
        assert attribute not in page.text, "the page must load nothing remote (machines are offline)"
