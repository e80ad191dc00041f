"""The end-of-run summary: one row per cell (route, qscore, decision, mutations) and the EIDs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import Envelope


@dataclass
class CellSummary:
    cell_id: str
    eid: str | None
    generation: int = 0
    route: str = "-"
    qscore: float | None = None
    decision: str = "-"
    reasons: list[str] = field(default_factory=list)
    mutations: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: str
    cells: list[CellSummary]
    eids: dict[str, list[str]]
    errors: list[str]
    motifs: list[str]
    events: int

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "events": self.events, "errors": self.errors, "motifs": self.motifs,
            "eids": self.eids, "cells": [vars(c) for c in self.cells],
        }


def summarise(run_id: str, events: Iterable[Envelope]) -> RunSummary:
    """One pass over the run's events (a list, or the store's pages: nothing is kept but the rows)."""
    cells: dict[str, CellSummary] = {}
    eids: dict[str, list[str]] = {}
    errors: list[str] = []
    motifs: list[str] = []
    count = 0
    for env in events:
        count += 1
        payload = env.payload
        cell = cells.get(env.cell_id or "")
        if env.type == "BeamEvent":
            stage = payload["stage"]
            if stage == "ingest" and env.cell_id not in cells:
                cells[str(env.cell_id)] = cell = CellSummary(str(env.cell_id), env.eid, int(payload["generation"]))
            if cell is None:
                continue
            if stage in ("rewrite", "predict") and payload["result"].get("route"):
                cell.route = str(payload["result"]["route"])
            elif stage in ("approved", "vetoed"):
                cell.decision = stage
        elif env.type == "SQIScore" and cell is not None:
            cell.qscore = float(payload["qscore"])
        elif env.type == "SoulLawDecision" and cell is not None and not payload["allowed"]:
            cell.reasons = list(payload["reasons"])
        elif env.type == "EntanglementLink":
            eids[str(payload["eid"])] = list(payload["members"])
        elif env.type == "DNAMutation":
            mutated = str(payload["mutated"].get("cell_id"))
            reason = payload["metadata"]["reason"]
            for parent in payload["original"].get("cells", []):
                if parent in cells:
                    cells[parent].mutations.append(f"{reason}→{mutated}")
        elif env.type == "PatternMotif":
            motifs.append(f"{payload['kind']}: {payload['canonical']} ({payload['support']} cells)")
        elif env.type == "StageError":
            errors.extend(e["rendered"] for e in payload["errors"])
    for summary in cells.values():
        if summary.eid and summary.eid not in eids:
            eids[summary.eid] = [summary.cell_id]
    return RunSummary(run_id, list(cells.values()), eids, errors, motifs, count)


def print_summary(summary: RunSummary, store_flag: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for error in summary.errors:
        console.print(error, markup=False, highlight=False)
    table = Table(title=f"run {summary.run_id}: {summary.events} events")
    for column in ("cell", "gen", "route", "qscore", "decision", "reasons / mutations"):
        table.add_column(column)
    for cell in summary.cells:
        style = {"approved": "green", "vetoed": "red"}.get(cell.decision, "")
        notes = "; ".join(cell.reasons + cell.mutations)
        qscore = f"{cell.qscore:.3f}" if cell.qscore is not None else "-"
        table.add_row(cell.cell_id, str(cell.generation), cell.route, qscore,
                      f"[{style}]{cell.decision}[/]" if style else cell.decision, notes)
    console.print(table)
    for motif in summary.motifs:
        console.print(f"motif  {motif}", markup=False)
    # Plain prints: the replay commands must stay on one line to be copied.
    print("GHX replay ids (EIDs):")
    for eid, members in summary.eids.items():
        print(f"  {' ↔ '.join(members)}:  beamline{store_flag} replay {eid} --rerun")
