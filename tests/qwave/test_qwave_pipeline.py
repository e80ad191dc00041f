"""Vector beams in the real pipeline: the runner hands QWave its whole batch.

The same qwave-routed cells go through ``run_pipeline`` twice — once with batches
(the runner calls ``handle_batch``) and once one message at a time
(``max_batch=1``) — and the stored events must be the same events (ids and
payloads, wall-clock fields aside, exactly what ``replay --rerun`` compares).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qwave_helpers import rewrite_beam

from beamline.flags import defaults
from bus.memory import MemoryBus
from bus.pipeline import PipelineResult, run_pipeline
from contracts.envelope import Envelope
from replay.diff import comparable
from stages.codex.ast import Node, call, num
from stages.codex.grid import GridSpec
from stages.qwave.stage import QWaveStage
from store.beam_store import open_store

GRID = GridSpec((16, 16), 1.0 / 16, "periodic")
U = call("random")
LAP = Node("lap", (U,))
HEAT = Node("add", (U, Node("mul", (num(0.002), Node("div", (Node("grad", (U,)),))))))
FLUX = Node("outer", (Node("grad", (U,)), Node("grad", (U,))))
FLAGS: dict[str, Any] = {**defaults(), "PHASE10_ENABLED": True}


def cells() -> list[Envelope]:
    """Eleven routed beams: six of one structure, four of another, one alone (seeds differ)."""
    forms = [LAP] * 6 + [HEAT] * 4 + [FLUX]
    return [rewrite_beam(form, GRID, cell_id=f"c{i}", run_id="vec", seed=i, index=i) for i, form in enumerate(forms)]


async def run_through_runner(db: Path, max_batch: int) -> tuple[list[Envelope], QWaveStage, PipelineResult]:
    stage = QWaveStage()
    store = open_store(f"sqlite:///{db}", migrate=True)
    try:
        result = await run_pipeline([stage], cells(), bus=MemoryBus(), store=store, flags=FLAGS, timeout_s=120,
                                    runner_options={"max_batch": max_batch})
        stored = store.events(sheet_run_id="vec")
    finally:
        store.close()
    return stored, stage, result


def qwave_beams(events: list[Envelope]) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.type == "BeamEvent" and e.payload["stage"] == "qwave"]


async def test_batched_and_one_by_one_runs_store_the_same_events(tmp_path: Path) -> None:
    batched, batched_stage, _ = await run_through_runner(tmp_path / "batched.db", max_batch=256)
    single, single_stage, _ = await run_through_runner(tmp_path / "single.db", max_batch=1)

    assert single_stage.stats.vmapped_calls == 0  # one message per call: nothing to stack
    assert batched_stage.stats.vmapped_calls >= 1
    by_id = {e.event_id: comparable(e) for e in single}
    assert len(batched) == len(single) == len(by_id)
    assert {e.event_id: comparable(e) for e in batched} == by_id
    assert len(qwave_beams(batched)) == 11
    collapses = [e for e in batched if e.type == "BeamEvent" and e.payload["stage"] == "collapse"]
    assert len(collapses) == 11 and len({c.payload["result"]["observables"]["norm"] for c in collapses}) == 11


async def test_the_pipeline_makes_vmapped_calls(tmp_path: Path) -> None:
    stored, stage, result = await run_through_runner(tmp_path / "vec.db", max_batch=256)

    # The stored beams say how many cells shared their executable call...
    sizes = {p["cell_id"]: p["runtime"]["batch_size"] for p in qwave_beams(stored)}
    assert max(sizes.values()) > 1
    assert sizes["c10"] == 1  # FLUX has no partner
    # ...and the stage counted the vmapped calls it made; every beam went through one of them or alone.
    assert stage.stats.vmapped_calls >= 1
    assert stage.stats.vmapped_beams + stage.stats.single_calls == 11
    assert result.processed["qwave"] == 11 and result.dead_letters == 0
