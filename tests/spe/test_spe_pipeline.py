"""SPE through the real stages: a sheet submitted and run in process (memory bus, SQLite
store), as ``beamline run`` does, with SPE_AUTO_FUSE on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from beamline.pipeline import enabled_stages
from contracts.envelope import Envelope
from stages.codex.ast import Node
from stages.codex.checker import type_of_expanded
from stages.codex.cost import estimate_cost
from stages.codex.grid import GridSpec
from stages.spe.stage import SPEStage
from store.beam_store import BeamStore

from .pipeline_kit import beams, mutations, run_sheet, sheet_flags

GRID = "grid 32x32 spacing 0.03125 boundary periodic"
SHEET = f"""{GRID}
let u = gaussian(center=(0.5, 0.5), width=0.1)
cell m1 : (∇u • ∇u) + 1
cell m2 : 2 * (∇u • ∇u)
cell m3 : sqrt(∇u • ∇u)
cell decay : ⟲60 (a = const(1.0)) ← 0.5 * a
cell blowup : ⟲40 u ← u + 0.002 * Δu
cell ratio : u / sin(2 * pi * x)
cell both : (⟲20 u ← u + 0.002 * Δu) / sin(2 * pi * x)
m1 ↔ m2
"""
FLAGS = {"SPE_AUTO_FUSE": True, "SPE_MAX_GENERATIONS": 2}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class RecordingPhoton:
    """Photon as the runner hosts it, keeping every input the bus delivered to it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.stage_id = inner.stage_id
        self.input_topics = inner.input_topics
        self.received: list[Envelope] = []

    async def handle(self, envelope: Envelope, ctx: Any) -> list[Envelope]:
        self.received.append(envelope)
        out: list[Envelope] = await self.inner.handle(envelope, ctx)
        return out


class RestartingSPE:
    """SPE whose process "restarts" (a fresh SPEStage, no in-memory state) every ``every`` inputs."""

    stage_id = "spe"
    input_topics = SPEStage.input_topics

    def __init__(self, every: int = 2) -> None:
        self.every = every
        self.inner = SPEStage()
        self.handled = 0
        self.restarts = 0

    async def handle(self, envelope: Envelope, ctx: Any) -> list[Envelope]:
        self.handled += 1
        if self.handled % self.every == 0:
            self.inner = SPEStage()
            self.restarts += 1
        out: list[Envelope] = await self.inner.handle(envelope, ctx)
        return out


def _stages_with(replacement: Any) -> list[Any]:
    return [replacement if s.stage_id == replacement.stage_id else s for s in enabled_stages()]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    photon = RecordingPhoton(next(s for s in enabled_stages() if s.stage_id == "photon"))
    store = run_sheet(SHEET, tmp_path_factory.mktemp("spe") / "run.db", sheet_flags(**FLAGS),
                      stages=_stages_with(photon))
    yield store, photon
    store.close()


def _grid() -> GridSpec:
    return GridSpec.from_json({"shape": [32, 32], "spacing": 0.03125, "boundary": "periodic"})


def test_a_subexpression_repeated_in_three_cells_is_a_pattern_motif(recorded: Any) -> None:
    store, _ = recorded
    motifs = [m.payload for m in store.events(types=["PatternMotif"]) if m.payload["kind"] == "subtree"]
    grad_dot = [m for m in motifs if m["cells"] == ["m1", "m2", "m3"]]
    assert len(grad_dot) == 1
    assert grad_dot[0]["canonical"].count("∇gaussian") == 2 and "•" in grad_dot[0]["canonical"]
    assert grad_dot[0]["support"] == 3


def test_a_converging_evolve_is_an_attractor_motif(recorded: Any) -> None:
    store, _ = recorded
    attractors = {m.payload["cells"][0]: m.payload for m in store.events(types=["PatternMotif"])
                  if m.payload["kind"] == "attractor"}
    assert set(attractors) == {"decay"}  # the diffusing evolves still move: no fixed point
    assert attractors["decay"]["detail"]["last_step_norm"] < 1e-6


def test_a_vetoed_non_finite_cell_gets_a_repair_that_is_approved(recorded: Any) -> None:
    store, _ = recorded
    vetoed = beams(store, "vetoed")
    assert any(r.startswith("non_finite") for r in vetoed["ratio"].payload["result"]["veto_reasons"])
    repair = mutations(store)["ratio.g1"].payload
    assert repair["metadata"]["reason"] == "repair" and repair["metadata"]["detail"]["cause"] == "non_finite"
    assert repair["parents"] == [vetoed["ratio"].event_id]
    approved = beams(store, "approved")["ratio.g1"].payload
    assert approved["generation"] == 1 and approved["result"]["observables"]["finite"] is True


def test_a_cfl_unstable_evolve_gets_a_smaller_dt_that_is_approved(recorded: Any) -> None:
    store, _ = recorded
    vetoed = beams(store, "vetoed")["blowup"].payload["result"]
    assert any(r.startswith("cfl_unstable") for r in vetoed["veto_reasons"])
    original = Node.from_json(vetoed["normal_form"])
    repaired = Node.from_json(mutations(store)["blowup.g1"].payload["mutated"]["glyph"])
    before, after = estimate_cost(original, _grid()).cfl, estimate_cost(repaired, _grid()).cfl
    assert before is not None and before > 1 and after is not None and after <= 0.9 + 1e-9
    assert repaired.args[0].value > original.args[0].value  # more, smaller steps
    assert beams(store, "approved")["blowup.g1"].payload["result"]["observables"]["finite"] is True


def test_auto_fuse_ends_within_the_cap_with_no_duplicate_normal_key(recorded: Any) -> None:
    store, _ = recorded
    reinjected = [b for b in store.events(types=["BeamEvent"], stage="rewrite") if b.payload.get("generation", 0)]
    generations = [int(b.payload["generation"]) for b in reinjected]
    assert generations and max(generations) == 2 <= FLAGS["SPE_MAX_GENERATIONS"]
    keys: dict[str, set[str]] = {}
    for beam in store.events(container_id="default", types=["BeamEvent"], stage="rewrite"):
        keys.setdefault(beam.payload["result"]["normal_key"], set()).add(str(beam.cell_id))
    assert {k: c for k, c in keys.items() if len(c) > 1} == {}
    # The two-step repair: CFL first (both.g1, still dividing by zero), then regularised (both.g2).
    assert beams(store, "vetoed")["both.g1"].payload["result"]["veto_reasons"][0].startswith("non_finite")
    assert beams(store, "approved")["both.g2"].payload["generation"] == 2


def test_lineage_of_a_second_generation_cell_goes_back_to_the_original(recorded: Any) -> None:
    from beamline.cli import app

    store, _ = recorded
    result = CliRunner().invoke(app, ["--store", store.url, "lineage", "both.g2", "--json"])
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    cells = [row["cell"] for row in rows]
    assert {"both", "both.g1", "both.g2"} <= set(cells)
    assert cells.index("both") < cells.index("both.g1") < cells.index("both.g2")
    assert sum(row["type"] == "DNAMutation" for row in rows) == 2
    assert rows[0]["type"] == "SheetSubmitted"


def test_a_vetoed_beam_reaches_photon_only_through_an_spe_mutation(recorded: Any) -> None:
    store, photon = recorded
    by_id = {env.event_id: env for env in store.events()}
    vetoed = {e.event_id for e in store.events(types=["BeamEvent"], stage="vetoed")}
    assert vetoed and photon.received
    assert not {env.event_id for env in photon.received} & vetoed
    photon_events = [env for env in by_id.values() if env.producer.stage == "photon"]
    approved = store.events(types=["BeamEvent"], stage="approved")
    for env in [*photon.received, *photon_events, *approved]:
        through_mutation = False
        cause = env.causation_id
        while cause is not None:
            ancestor = by_id[cause]
            through_mutation = through_mutation or (ancestor.type == "DNAMutation" and ancestor.producer.stage == "spe")
            assert cause not in vetoed or through_mutation, f"{env.type} {env.cell_id} descends from a veto"
            cause = ancestor.causation_id
    denied = {d.causation_id for d in store.events(types=["SoulLawDecision"]) if not d.payload["allowed"]}
    assert not {a.causation_id for a in approved} & denied


def test_the_generation_cap_stops_reinjection(tmp_path: Path) -> None:
    sheet = f"{GRID}\nlet u = gaussian(width=0.1)\ncell both : (⟲20 u ← u + 0.002 * Δu) / sin(2 * pi * x)\n"
    store = run_sheet(sheet, tmp_path / "cap.db", sheet_flags(SPE_AUTO_FUSE=True, SPE_MAX_GENERATIONS=1))
    try:
        assert "both.g2" in mutations(store)  # proposed and recorded ...
        assert {str(b.cell_id) for b in store.events(types=["BeamEvent"])} == {"both", "both.g1"}  # ... never run
    finally:
        store.close()


def _comparable(env: Envelope) -> tuple[str, str, str | None, bytes]:
    payload = {k: v for k, v in env.payload.items() if k != "timestamp"}
    return env.event_id, env.type, env.cell_id, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def test_a_restarted_spe_rebuilds_its_state_from_events_and_decides_the_same(
    recorded: Any, tmp_path: Path
) -> None:
    store, _ = recorded
    restarting = RestartingSPE(every=2)
    again = run_sheet(SHEET, tmp_path / "restart.db", sheet_flags(**FLAGS), stages=_stages_with(restarting))
    try:
        assert restarting.restarts >= 5
        recorded_spe = {_comparable(e) for e in store.events() if e.producer.stage == "spe"}
        restarted_spe = {_comparable(e) for e in again.events() if e.producer.stage == "spe"}
        assert restarted_spe == recorded_spe
    finally:
        again.close()


def _generated_sheet(seed: int) -> str:
    import random

    rng = random.Random(seed)
    lets = ["u", "v"]
    bad = [
        lambda: f"{rng.choice(lets)} / sin({rng.choice([2, 4])} * pi * x)",
        lambda: f"sqrt({rng.choice(lets)} - {rng.choice([0.5, 1.0])})",
        lambda: f"⟲{rng.randint(5, 30)} u ← u + {rng.choice([0.001, 0.003])} * Δu",
        lambda: f"(⟲{rng.randint(5, 20)} v ← v + 0.002 * Δv) / sin(2 * pi * x)",
    ]
    good = [
        lambda: f"∇{rng.choice(lets)} • ∇{rng.choice(lets)} + {rng.randint(1, 3)}",
        lambda: f"{rng.choice([0.5, 2])} * Δ{rng.choice(lets)}",
        lambda: "u ⊕ v",
        lambda: f"⟲{rng.randint(10, 60)} (a = const({rng.choice([1.0, 2.0])})) ← 0.5 * a",
        lambda: f"⟲{rng.randint(5, 30)} u ← u + 0.0001 * Δu",
    ]
    cells = [rng.choice(bad)(), rng.choice(bad)(), *(rng.choice(good)() for _ in range(3))]
    lines = [GRID, f"let u = gaussian(center=(0.5, 0.5), width={rng.choice([0.1, 0.15])})",
             f"let v = gaussian(center=(0.3, 0.6), width={rng.choice([0.1, 0.2])})"]
    lines += [f"cell c{i} : {expr}" for i, expr in enumerate(cells)]
    lines.append("c2 ↔ c3")
    return "\n".join(lines) + "\n"


def test_every_candidate_on_generated_sheets_type_checks_and_reenters_photon(tmp_path: Path) -> None:
    proposed = 0
    for seed in range(3):
        store: BeamStore = run_sheet(_generated_sheet(seed), tmp_path / f"gen{seed}.db",
                                     sheet_flags(SPE_AUTO_FUSE=True), run_id=f"run-gen-{seed}")
        try:
            for mutation in store.events(types=["DNAMutation"]):
                proposed += 1
                type_of_expanded(Node.from_json(mutation.payload["mutated"]["glyph"]), _grid())
            errors = [e for e in store.events(types=["StageError", "DeadLetter"]) if ".g" in str(e.cell_id)]
            assert errors == [], f"seed {seed}: {[e.payload for e in errors]}"
            ingests = {str(b.cell_id) for b in store.events(types=["BeamEvent"], stage="ingest")
                       if b.payload.get("generation", 0)}
            routed = {str(b.cell_id) for b in store.events(types=["BeamEvent"], stage="rewrite")}
            assert ingests <= routed, f"seed {seed}: reinjected cells Photon did not take: {ingests - routed}"
        finally:
            store.close()
    assert proposed >= 3  # every sheet has vetoed cells: the check is never vacuous


def test_a_repair_equal_to_a_cell_the_container_ran_before_is_not_reinjected(tmp_path: Path) -> None:
    # ``fixed`` (an earlier run in the same container) is exactly what SPE's regularisation makes
    # of ``ratio``: the same Photon normal_key, so the repair is recorded but not run again.
    head = f"{GRID}\nlet u = gaussian(center=(0.5, 0.5), width=0.1)\n"
    fixed = "cell fixed : u * sin(2 * pi * x) / (sin(2 * pi * x) * sin(2 * pi * x) + 0.000001)\n"
    flags = sheet_flags(SPE_AUTO_FUSE=True)
    run_sheet(head + fixed, tmp_path / "dup.db", flags, run_id="run-first").close()
    store = run_sheet(head + "cell ratio : u / sin(2 * pi * x)\n", tmp_path / "dup.db", flags, run_id="run-second")
    try:
        repair = mutations(store)["ratio.g1"].payload
        fixed_key = beams(store, "rewrite")["fixed"].payload["result"]["normal_key"]
        assert repair["mutated"]["normal_key"] == fixed_key
        assert "ratio.g1" not in {str(b.cell_id) for b in store.events(types=["BeamEvent"])}
        assert beams(store, "approved")["fixed"].payload["result"]["observables"]["finite"] is True
    finally:
        store.close()
