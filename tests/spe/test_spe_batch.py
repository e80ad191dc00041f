"""SPE's batch handler: the outputs of ``handle`` one by one, with one read of a batch's EIDs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from stages.base import StageContext
from stages.spe.stage import DECISIONS, SPEStage

from .pipeline_kit import run_sheet, sheet_flags

SHEET = """grid 16x16 spacing 0.0625 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.2)
cell heat : u + 0.0001 * Δu
cell lap : Δu
cell lap2 : Δu + 0.5 * u
cell ratio : u / sin(2 * pi * x)
cell blowup : u / (x - x)
heat ↔ lap
lap2 ↔ ratio ↔ blowup
"""


class CountingReader:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.eid_reads = 0

    def events(self, **query: Any) -> list[Envelope]:
        self.eid_reads += "eid" in query or "eids" in query
        found: list[Envelope] = self.inner.events(**query)
        return found


def _context(reader: CountingReader) -> StageContext:
    return StageContext(flags=sheet_flags(SPE_AUTO_FUSE=True), flags_digest="d",
                        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), reader=reader)


def test_handle_batch_gives_what_handle_gives_one_by_one_with_one_read_of_the_eids(tmp_path: Path) -> None:
    store = run_sheet(SHEET, tmp_path / "spe.db", sheet_flags(SPE_AUTO_FUSE=True))
    try:
        decided = [b for b in store.events(types=["BeamEvent"]) if b.payload.get("stage") in DECISIONS]
        others = store.events(types=["SQIScore"])[:2]  # not SPE's inputs: no outputs, no read
        batch: Sequence[Envelope] = [*others, *decided]
        assert len({b.eid for b in decided}) >= 2 and any(b.payload["stage"] == "vetoed" for b in decided)

        one_reader = CountingReader(store)
        one_stage = SPEStage()
        one_by_one = [asyncio.run(one_stage.handle(env, _context(one_reader))) for env in batch]
        batch_reader = CountingReader(store)
        batched = asyncio.run(SPEStage().handle_batch(batch, _context(batch_reader)))
    finally:
        store.close()
    assert batched == one_by_one and any(batched)
    assert one_reader.eid_reads == len(decided) and batch_reader.eid_reads == 1


def test_spe_events_name_the_worker_that_produced_them(tmp_path: Path) -> None:
    # Forensics over many workers: a mutation, a fused beam or a motif names its SPE member.
    store = run_sheet(SHEET, tmp_path / "spe.db", sheet_flags(SPE_AUTO_FUSE=True))
    try:
        decided = [b for b in store.events(types=["BeamEvent"]) if b.payload.get("stage") in DECISIONS]
        ctx = StageContext(flags=sheet_flags(SPE_AUTO_FUSE=True), flags_digest="d",
                           clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), reader=store, instance="spe-b")
        produced = [out for env in decided for out in asyncio.run(SPEStage().handle(env, ctx))]
    finally:
        store.close()
    assert {out.type for out in produced} >= {"DNAMutation", "PatternMotif"}
    assert {out.producer.instance for out in produced} == {"spe-b"}
