"""Overload on the real pipeline: QWave's backlog defers heavy cells, retries route every one of them.

With QWAVE_BACKLOG_LIMIT = 0 any message QWave has not acknowledged yet is
overload, and Photon's runner takes one ingest beam at a time, so a burst of heavy
cells meets the backlog the earlier cells left. Each cell must still end with its
qwave and collapse beams (nothing dropped), and ``replay --rerun`` — which runs
the EID again under whatever load it meets — must find the run identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from beamline.flags import defaults, digest
from beamline.pipeline import enabled_stages, new_run_id, submission
from bus.memory import MemoryBus
from bus.pipeline import run_pipeline
from contracts.envelope import Envelope
from replay.rerun import rerun_eid
from store.beam_store import open_store

SHEET = """sheet overload
grid 16x16 spacing 0.0625 boundary periodic
let u = random(seed=3)
let v = gaussian(center=(0.5, 0.5), width=0.2)
cell a : Δu
cell b : ∇·∇v + u
cell c : ∇u ⊗ ∇v
cell d : Δv * 2 - u
cell e : ∇(2*u + 3*v)
"""
CELLS = {"a", "b", "c", "d", "e"}
FLAGS: dict[str, Any] = {**defaults(), "COST_THRESHOLD": 1.0, "QWAVE_BACKLOG_LIMIT": 0, "QWAVE_BACKOFF_S": 0.02}


def beams(events: list[Envelope], stage: str) -> list[Envelope]:
    return [e for e in events if e.type == "BeamEvent" and e.payload["stage"] == stage]


async def test_a_burst_of_heavy_cells_is_deferred_then_every_cell_runs_on_qwave(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'overload.db'}", migrate=True)
    try:
        run_id = new_run_id(SHEET, 0, "default", "deferral-test")
        submitted = submission(SHEET, filename="overload.codex", flags=FLAGS, flags_digest=digest(FLAGS),
                               run_id=run_id)
        result = await run_pipeline(enabled_stages(), [submitted], bus=MemoryBus(), store=store, flags=FLAGS,
                                    flags_digest=digest(FLAGS), timeout_s=300, runner_options={"max_batch": 1})
        events = store.events(sheet_run_id=run_id)

        deferred = beams(events, "deferred")
        assert deferred, "a backlog over the limit must defer heavy cells"
        for beam in deferred:
            deferral = beam.payload["result"]["deferral"]
            assert deferral["backlog"] > deferral["backlog_limit"] == 0 and deferral["retry_after_s"] > 0
        assert result.dead_letters == 0
        # Never dropped: every cell was routed once and ran on QWave, then collapsed there.
        assert sorted(e.cell_id for e in beams(events, "rewrite")) == sorted(CELLS)
        assert sorted(e.cell_id for e in beams(events, "qwave")) == sorted(CELLS)
        assert sorted(e.cell_id for e in beams(events, "collapse") if e.producer.stage == "qwave") == sorted(CELLS)
        # A deferred cell's retries come after its deferrals, under the same ingest beam.
        for beam in deferred:
            [rewrite] = [r for r in beams(events, "rewrite") if r.cell_id == beam.cell_id]
            assert rewrite.causation_id == beam.causation_id
            assert events.index(rewrite) > events.index(beam)

        for eid in {e.eid for e in deferred if e.eid}:
            report = await rerun_eid(store, eid)
            assert report.identical, report.diffs
            assert report.compared > 0
    finally:
        store.close()
