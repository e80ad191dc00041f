"""Shared pieces of the reliability tests: generated sheets, store counts, the heavy switch.

Heavy variants (5,000-cell crash, 100,000-cell overload, ≥ 200,000 fuzz cases) run only
with ``BEAMLINE_HEAVY=1`` (crash, overload) or ``BEAMLINE_FUZZ_DEEP=1`` (fuzz); otherwise
they are skipped with that reason printed by ``-ra``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = os.environ.get("BEAMLINE_HEAVY") == "1"
heavy = pytest.mark.skipif(not HEAVY, reason="heavy variant: set BEAMLINE_HEAVY=1 to run it")

# Small 16×16 cells: a few expression shapes with cycling coefficients (so SPE sees repeats),
# one in five with a goal (SQI scores it), by default one in ten dividing by zero (SoulLaw vetoes
# it, SPE proposes a repair): every stage has work and both verdicts occur. ``veto_every=0``
# leaves the vetoed cells out (see test_overload.py for why the big runs do).
SHAPES = ("Δu + {a}*u", "{a}*u - v", "∇·(∇u) + {a}*v", "u * u * {a}", "(u + {a}) * v")
COEFFICIENTS = (0.5, 0.25, 0.75, 1.5)


def sheet_source(count: int, name: str = "reliability", first: int = 0, veto_every: int = 10) -> str:
    """A sheet of ``count`` cells named ``c<first>`` … ``c<first+count-1>``."""
    lines = [f"sheet {name}", "grid 16x16 spacing 0.0625 boundary periodic",
             "let u = gaussian(center=(0.5, 0.5), width=0.2)", "let v = const(1.0)"]
    for i in range(first, first + count):
        if veto_every and i % veto_every == veto_every - 1:
            lines.append(f"cell c{i} : u / sin(2 * pi * x)")
            continue
        expr = SHAPES[i % len(SHAPES)].format(a=COEFFICIENTS[(i // len(SHAPES)) % len(COEFFICIENTS)])
        goal = "   goal: energy < energy(u)" if i % 5 == 0 else ""
        lines.append(f"cell c{i} : {expr}{goal}")
    return "\n".join(lines) + "\n"


def connect(db: Path) -> sqlite3.Connection:
    """A plain read connection to a store file another process may be writing."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    return connection


def row_count(db: Path) -> int:
    """Events in the store (0 while the file or its table does not exist yet)."""
    if not db.exists():
        return 0
    try:
        with connect(db) as connection:
            return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


# Types that describe a set of cells (motifs, EIDs, basin packets) are counted per run below,
# not per cell: their membership depends on which cells a stage had seen together.
SET_TYPES = ("PatternMotif", "EntanglementLink", "BasinSyncPacket", "SheetSubmitted")


def per_cell(db: Path) -> dict[str, Counter[str]]:
    """cell id -> Counter of "Type/stage" over every per-cell event in the store."""
    cells: dict[str, Counter[str]] = {}
    marks = ",".join("?" for _ in SET_TYPES)
    with connect(db) as connection:
        rows = connection.execute(
            f"SELECT cell_id, type, stage, count(*) FROM events WHERE cell_id IS NOT NULL "  # noqa: S608
            f"AND type NOT IN ({marks}) GROUP BY 1, 2, 3", SET_TYPES).fetchall()
    for cell, kind, stage, n in rows:
        cells.setdefault(str(cell), Counter())[f"{kind}/{stage}"] += int(n)
    return cells


def beam_duplicates(cells: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Cells with more than one BeamEvent for a stage, or both verdicts (approved and vetoed)."""
    doubled: dict[str, dict[str, int]] = {}
    for cell, counts in cells.items():
        beams = {k: n for k, n in counts.items() if k.startswith("BeamEvent/") and n != 1}
        if counts["BeamEvent/approved"] + counts["BeamEvent/vetoed"] > 1:
            beams["verdicts"] = counts["BeamEvent/approved"] + counts["BeamEvent/vetoed"]
        if beams:
            doubled[cell] = beams
    return doubled


def type_counts(db: Path) -> Counter[str]:
    with connect(db) as connection:
        rows = connection.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
    return Counter({str(kind): int(n) for kind, n in rows})


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def kg_ids(db: Path) -> tuple[set[str], set[str]]:
    """Ids of the knowledge graph's nodes and edges, leaving out motifs (a set type, see SET_TYPES)
    and the edges that touch them: ids are deterministic, so a redelivered projection adds none."""
    with connect(db) as connection:
        nodes = {str(r[0]) for r in connection.execute("SELECT id FROM kg_nodes WHERE kind != 'motif'")}
        edges = {str(r[0]) for r in connection.execute(
            "SELECT e.id FROM kg_edges e WHERE e.source IN (SELECT id FROM kg_nodes WHERE kind != 'motif') "
            "AND e.target IN (SELECT id FROM kg_nodes WHERE kind != 'motif')")}
    return nodes, edges
