"""Turning an SPE candidate (fusion or repair) into events: a DNAMutation, and with
SPE_AUTO_FUSE an ingest beam for the new cell ``<cell>.g<n>``.

Every candidate is normalised by Photon's rules and type-checked by Codex before
it is proposed; one that fails either is dropped, never reinjected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import Envelope
from contracts.payloads import BeamEvent, DNAMutation, MutationMetadata
from contracts.registry import make_event
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.spe.dedup import KnownKeys

_GENERATION_SUFFIX = re.compile(r"\.g\d+$")


@dataclass(frozen=True)
class Candidate:
    reason: str  # "fusion" | "repair"
    form: Node
    parents: tuple[Envelope, ...]  # decided beams it came from, best first
    detail: dict[str, Any] = field(default_factory=dict)


def base_cell(cell_id: str) -> str:
    return _GENERATION_SUFFIX.sub("", cell_id)


def normal_key_of(result: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(normal form JSON, normal_key) of a beam result, normalising ``expanded`` if needed."""
    if "normal_form" in result and "normal_key" in result:
        return result["normal_form"], str(result["normal_key"])
    grid = GridSpec.from_json(result["grid"])
    outcome = _normalize(Node.from_json(result["expanded"]), grid)
    return outcome.normal_form.to_json(), str(outcome.normal_key)


def _normalize(node: Node, grid: GridSpec) -> Any:
    from stages.photon.normalize import normalize

    return normalize(node, grid)


def _type_of(node: Node, grid: GridSpec) -> dict[str, Any]:
    """Codex's static type of the candidate; raises CodexError if it does not type-check."""
    from stages.codex.checker import type_of_expanded

    return type_of_expanded(node, grid)


def candidate_events(
    candidate: Candidate,
    ctx: StageContext,
    *,
    index: int,
    id_key: str | None,
    known_keys: KnownKeys,
) -> list[Envelope]:
    """The candidate's DNAMutation, plus its ingest beam when SPE_AUTO_FUSE is on, the
    generation is within SPE_MAX_GENERATIONS and no other cell of the container
    (``known_keys``, by Photon's normal_key) already has its normal form."""
    from stages.codex.cost import estimate_cost
    from stages.codex.errors import CodexError

    lead = candidate.parents[0]
    lead_result = lead.payload["result"]
    grid = GridSpec.from_json(lead_result["grid"])
    outcome = _normalize(candidate.form, grid)
    try:
        value_type = _type_of(outcome.normal_form, grid)
    except CodexError:
        return []
    generation = max(int(p.payload.get("generation", 0)) for p in candidate.parents) + 1
    new_cell = f"{base_cell(str(lead.cell_id))}.g{generation}"
    parents_score = lead_result.get("score") or {}
    mutation = DNAMutation(
        mutation_id=f"dna::{lead.sheet_run_id}::{new_cell}::{outcome.normal_key}",
        timestamp=ctx.now().isoformat(),
        original={"cells": [p.cell_id for p in candidate.parents],
                  "glyph": [p.payload["result"].get("normal_form") for p in candidate.parents]},
        mutated={"cell_id": new_cell, "glyph": outcome.normal_form.to_json(), "normal_key": outcome.normal_key},
        metadata=MutationMetadata(
            reason="fusion" if candidate.reason == "fusion" else "repair",
            entropy_delta=parents_score.get("entropy_delta"),
            rewrite_success_prob=lead_result.get("rewrite_success_prob"),
            container_id=lead.container_id,
            detail={**candidate.detail, "generation": generation},
        ),
        parents=[p.event_id for p in candidate.parents],
    )
    mutation_event = make_event(
        mutation, stage_id="spe", index=index, parent=lead, occurred_at=ctx.now(),
        flags_digest=ctx.flags_digest, id_key=id_key and f"{id_key}|dna", instance=ctx.instance,
    )
    out = [mutation_event]
    if not ctx.flags.get("SPE_AUTO_FUSE", False):
        return out
    if generation > int(ctx.flags.get("SPE_MAX_GENERATIONS", 3)):
        return out
    if known_keys.is_duplicate(str(outcome.normal_key), (lead.sheet_run_id, new_cell)):
        return out
    cost = estimate_cost(outcome.normal_form, grid)
    result = {
        "ast": outcome.normal_form.to_json(),
        "expanded": outcome.normal_form.to_json(),
        "goal": lead_result.get("goal"),
        "precision": lead_result.get("precision"),
        "deps": sorted({str(p.cell_id) for p in candidate.parents}),
        "type": value_type,
        "shape": lead_result.get("shape"),
        "grid": lead_result["grid"],
        "main_input": lead_result.get("main_input"),
        "cost": cost.to_json(),
        "seed": lead_result.get("seed", 0),
        "mutation_id": mutation.mutation_id,
        "normal_key": outcome.normal_key,  # Photon's key of this form: what SPE deduplicates by
        "parents": [p.cell_id for p in candidate.parents],
    }
    ingest = BeamEvent(
        beam_id=f"beam_{new_cell}_ingest_g{generation}", cell_id=new_cell, sheet_run_id=lead.sheet_run_id,
        container_id=lead.container_id, eid=lead.eid, stage="ingest", token=outcome.normal_form.op,
        result=result, timestamp=ctx.now().isoformat(), generation=generation,
    )
    out.append(make_event(
        ingest, stage_id="spe", index=index + 1, parent=mutation_event, cell_id=new_cell,
        occurred_at=ctx.now(), flags_digest=ctx.flags_digest, instance=ctx.instance,
    ))
    return out
