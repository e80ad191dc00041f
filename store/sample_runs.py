"""Synthetic, contract-valid sheet runs shaped like the real pipeline's output.

Used by the store contract suite and ``scripts/bench/bench_replay.py`` to fill a
store with realistic event graphs without running the stages: per cell and
generation the same event types, causation links, EIDs and SPE generations
(``<cell>.g<n>`` caused by a DNAMutation) that Codex → Photon → QWave → SQI →
SPE emit. The numbers inside results are made up; the structure is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.envelope import Envelope
from contracts.payloads import (
    BeamEvent,
    BeamStage,
    CollapseTrace,
    CostDetail,
    DNAMutation,
    EntanglementLink,
    GlyphExecution,
    Hologram,
    MutationMetadata,
    Payload,
    SheetSubmitted,
    SignatureBlock,
    SoulLawDecision,
    SQIScore,
)
from contracts.registry import make_event

GLYPH = "∇"  # the main glyph every sample cell "computes"


def eid_for(sheet_run_id: str, members: list[str]) -> str:
    """The Codex EID formula: ``eid::<run>::<blake2b-16 of the sorted members joined by ','>``."""
    digest = hashlib.blake2b(",".join(sorted(members)).encode(), digest_size=16).hexdigest()
    return f"eid::{sheet_run_id}::{digest}"


@dataclass
class RunBuilder:
    """Builds the events of one sheet run; ``events`` is in emission (= seq) order."""

    sheet_run_id: str
    container_id: str = "default"
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    events: list[Envelope] = field(default_factory=list)

    def _at(self) -> datetime:
        return self.start + timedelta(milliseconds=len(self.events))

    def emit(
        self, payload: Payload, *, stage_id: str, index: int, parent: Envelope | None,
        eid: str | None = None, cell_id: str | None = None,
    ) -> Envelope:
        envelope = make_event(
            payload, stage_id=stage_id, index=index, parent=parent, sheet_run_id=self.sheet_run_id,
            container_id=self.container_id, eid=eid, cell_id=cell_id, occurred_at=self._at(),
        )
        self.events.append(envelope)
        return envelope

    def submit(self, source: str = "cell a : u") -> Envelope:
        payload = SheetSubmitted(sheet_run_id=self.sheet_run_id, container_id=self.container_id, source=source)
        return self.emit(payload, stage_id="cli", index=0, parent=None)

    def beam(
        self, stage: BeamStage, cell: str, eid: str, parent: Envelope, *, stage_id: str, index: int = 0,
        generation: int = 0, result: dict[str, object] | None = None,
    ) -> Envelope:
        payload = BeamEvent(
            beam_id=f"{cell}:{stage}:{generation}", cell_id=cell, sheet_run_id=self.sheet_run_id,
            container_id=self.container_id, eid=eid, stage=stage,
            token=GLYPH, result=result or {"shape": [16, 16]}, timestamp=self._at().isoformat(),
            generation=generation,
        )
        return self.emit(payload, stage_id=stage_id, index=index, parent=parent, eid=eid, cell_id=cell)

    def entangle(self, members: list[str], parent: Envelope, index: int) -> str:
        eid = eid_for(self.sheet_run_id, members)
        link = EntanglementLink(eid=eid, members=members, sheet_run_id=self.sheet_run_id, container_id=self.container_id)
        self.emit(link, stage_id="codex", index=index, parent=parent, eid=eid)
        return eid

    def ingest(self, cell: str, eid: str, parent: Envelope, index: int, generation: int = 0) -> Envelope:
        stage_id = "codex" if generation == 0 else "spe"
        beam = self.beam("ingest", cell, eid, parent, stage_id=stage_id, index=index, generation=generation,
                         result=_ingest_result(cell))
        glyph = GlyphExecution(glyph=GLYPH, action="ingest", source=cell, timestamp=0.0, cost=1.0, cell_id=cell,
                               detail=CostDetail(energy=1.0, ethics_risk=0.0, delay=0.1, opportunity_loss=0.0))
        self.emit(glyph, stage_id=stage_id, index=index + 1000, parent=parent, eid=eid, cell_id=cell)
        return beam

    def through_pipeline(self, ingest: Envelope, generation: int = 0) -> Envelope:
        """rewrite → qwave + collapse + trace → score + decision + approved; returns the approved beam."""
        cell, eid = ingest.cell_id or "", ingest.eid or ""
        rewrite = self.beam("rewrite", cell, eid, ingest, stage_id="photon", generation=generation,
                            result={"normal_key": f"nk:{cell}", "route": "qwave", "rules": []})
        self.beam("qwave", cell, eid, rewrite, stage_id="qwave", generation=generation)
        collapse = self.beam("collapse", cell, eid, rewrite, stage_id="qwave", index=1, generation=generation,
                             result={"observables": {"norm": 1.0, "energy": 0.5, "finite": True}})
        trace = CollapseTrace(
            expression=cell, output={"norm": 1.0}, adapter="qwave", timestamp=0.0,
            hologram=Hologram(signature_block=SignatureBlock(
                ghx_projection_id=f"ghx:{cell}", vault_snapshot_id="v0", qglyph_id=f"q:{cell}")),
        )
        self.emit(trace, stage_id="qwave", index=2, parent=rewrite, eid=eid, cell_id=cell)
        score = SQIScore(timestamp=0.0, container_id=self.container_id, cell_id=cell, rewrite_success_prob=0.9,
                         stability=0.8, qscore=0.7)
        self.emit(score, stage_id="sqi", index=0, parent=collapse, eid=eid, cell_id=cell)
        decision = SoulLawDecision(decision_id=f"d:{cell}", allowed=True, matched_rules=[], reasons=[],
                                   policy_hash="p0", input_digest="i0", cell_id=cell)
        self.emit(decision, stage_id="sqi", index=1, parent=collapse, eid=eid, cell_id=cell)
        return self.beam("approved", cell, eid, collapse, stage_id="sqi", index=2, generation=generation)

    def mutate(self, approved: Envelope, parents: list[str], child: str, index: int = 0) -> Envelope:
        cell = approved.cell_id or ""
        mutation = DNAMutation(
            mutation_id=f"m:{child}", timestamp=self._at().isoformat(), original={"cell": cell},
            mutated={"cell": child}, parents=parents,
            metadata=MutationMetadata(reason="fusion" if len(parents) > 1 else "repair",
                                      container_id=self.container_id),
        )
        return self.emit(mutation, stage_id="spe", index=index, parent=approved, eid=approved.eid, cell_id=cell)


def _ingest_result(cell: str) -> dict[str, object]:
    return {
        "ast": {"op": "grad", "args": [{"op": "ref", "value": "u"}]},
        "deps": [], "shape": [16, 16], "precision": None, "seed": 7,
        "type": {"kind": "field", "components": None, "time": False, "complex": False},
        "cost": {"flops": 2048.0, "bytes": 4096.0, "total": 3.5, "risk_flags": [], "cfl": None},
        "cell": cell,
    }


def sample_run(
    sheet_run_id: str, *, cells: int = 4, generations: int = 1, container_id: str = "default",
    start: datetime | None = None,
) -> list[Envelope]:
    """One sheet run: ``cells`` cells entangled in pairs, each through every stage, then
    ``generations`` SPE generations (``<cell>.g1`` …) each caused by a DNAMutation."""
    builder = RunBuilder(sheet_run_id, container_id=container_id)
    if start is not None:
        builder.start = start
    root = builder.submit()
    names = [f"c{i}" for i in range(cells)]
    eids = {}
    for pair_start in range(0, cells, 2):
        members = names[pair_start:pair_start + 2]
        eid = builder.entangle(members, root, index=pair_start)
        eids.update(dict.fromkeys(members, eid))
    for position, name in enumerate(names):
        ingest = builder.ingest(name, eids[name], root, index=10 + 2 * position)
        approved = builder.through_pipeline(ingest)
        current = name
        for generation in range(1, generations + 1):
            child = f"{name}.g{generation}"
            mutation = builder.mutate(approved, [current], child)
            ingest = builder.ingest(child, eids[name], mutation, index=0, generation=generation)
            approved = builder.through_pipeline(ingest, generation)
            current = child
    return builder.events


def sample_runs(total_events: int, *, cells: int = 4, generations: int = 1) -> Iterator[list[Envelope]]:
    """Whole runs (``run-000000``, …) until at least ``total_events`` events were produced."""
    produced = 0
    index = 0
    base = datetime(2026, 1, 1, tzinfo=UTC)
    while produced < total_events:
        events = sample_run(f"run-{index:06d}", cells=cells, generations=generations,
                            start=base + timedelta(seconds=index))
        produced += len(events)
        index += 1
        yield events
