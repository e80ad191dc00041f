"""A small, realistic event history for KG tests (one run, an entangled pair, a fusion, a motif)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.envelope import Envelope
from contracts.payloads import (
    BeamEvent,
    CostDetail,
    DNAMutation,
    EntanglementLink,
    GlyphExecution,
    MutationMetadata,
    PatternMotif,
    SheetSubmitted,
    SoulLawDecision,
    SQIScore,
)
from contracts.registry import make_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN = "run-kg"
EID = "eid::run-kg::0123"
CONTAINER = "c1"


def _at(step: int) -> datetime:
    return T0 + timedelta(seconds=step)


def _beam(stage: str, cell: str, token: str, parent: Envelope, step: int, index: int = 0,
          generation: int = 0) -> Envelope:
    payload = BeamEvent(
        beam_id=f"beam_{cell}_{stage}", cell_id=cell, sheet_run_id=RUN, container_id=CONTAINER, eid=EID,
        stage=stage,  # type: ignore[arg-type]
        token=token, result={"route": "qwave", "normal_key": f"nk-{cell}"}, timestamp=_at(step).isoformat(),
        generation=generation,
    )
    return make_event(payload, stage_id=stage, index=index, parent=parent, eid=EID, cell_id=cell,
                      occurred_at=_at(step))


def history() -> list[Envelope]:
    """Events in store order. Expected graph: 14 nodes, 28 edges (see test_kg_projection)."""
    sheet = make_event(
        SheetSubmitted(sheet_run_id=RUN, container_id=CONTAINER, source="...", filename="demo.codex"),
        stage_id="cli", index=0, sheet_run_id=RUN, container_id=CONTAINER, occurred_at=_at(0),
    )
    link = make_event(
        EntanglementLink(eid=EID, members=["a", "b"], sheet_run_id=RUN, container_id=CONTAINER,
                         links=[["a", "b"]]),
        stage_id="codex", index=10, parent=sheet, eid=EID, occurred_at=_at(1),
    )
    glyph = make_event(
        GlyphExecution(glyph="Δ", action="execute", source="codex", timestamp=1.0, cost=10.0,
                       detail=CostDetail(energy=0.0, ethics_risk=0.0, delay=0.0, opportunity_loss=0.0),
                       cell_id="a"),
        stage_id="codex", index=11, parent=sheet, eid=EID, cell_id="a", occurred_at=_at(1),
    )
    ingest_a = _beam("ingest", "a", "Δ", sheet, 2, index=0)
    ingest_b = _beam("ingest", "b", "⊗", sheet, 2, index=1)
    rewrite_a = _beam("rewrite", "a", "Δ", ingest_a, 3)
    collapse_a = _beam("collapse", "a", "Δ", rewrite_a, 4)
    score = make_event(
        SQIScore(timestamp=5.0, container_id=CONTAINER, cell_id="a", rewrite_success_prob=1.0, stability=1.0,
                 qscore=0.9),
        stage_id="sqi", index=0, parent=collapse_a, occurred_at=_at(5),
    )
    decision = make_event(
        SoulLawDecision(decision_id="sld_1", allowed=True, matched_rules=[], reasons=[], policy_hash="p",
                        input_digest="i", cell_id="a"),
        stage_id="sqi", index=1, parent=collapse_a, occurred_at=_at(5),
    )
    approved_a = _beam("approved", "a", "Δ", collapse_a, 5, index=2)
    mutation = make_event(
        DNAMutation(mutation_id="mut-1", timestamp=_at(6).isoformat(), original={"cell_id": "a"},
                    mutated={"cell_id": "a.g1"},
                    metadata=MutationMetadata(reason="repair", container_id=CONTAINER),
                    parents=[approved_a.event_id]),
        stage_id="spe", index=0, parent=approved_a, occurred_at=_at(6),
    )
    motif = make_event(
        PatternMotif(motif_id="motif-1", container_id=CONTAINER, kind="subtree", canonical="lap(u)", support=2,
                     cells=["a", "b"], snapshot_id="snap"),
        stage_id="spe", index=1, parent=approved_a, occurred_at=_at(6),
    )
    return [sheet, link, glyph, ingest_a, ingest_b, rewrite_a, collapse_a, score, decision, approved_a,
            mutation, motif]
