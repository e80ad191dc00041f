"""A parsed sheet: its grid, params, lets, cells and entanglements, with source positions.

Produced by ``parser.parse_sheet``; checked by ``checker.check_sheet``. Names of
params, lets and cells share one namespace (``definitions``), so a duplicate of
any kind is reported with both places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stages.codex.ast import Node, Span
from stages.codex.grid import GridSpec

DefinitionKind = Literal["param", "let", "cell"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell: ``cell ID : EXPR [goal: PREDICATE] [precision P]``; ``span`` is the id's position."""

    id: str
    expr: Node
    goal: Node | None
    precision: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Definition:
    kind: DefinitionKind
    span: Span


@dataclass
class Sheet:
    """Everything a sheet states. ``lets`` keeps source order; ``entanglements`` lists each ↔ statement."""

    name: str | None
    grid: GridSpec
    params: dict[str, float]
    lets: dict[str, Node]
    cells: list[Cell]
    entanglements: list[list[str]]
    source: str
    filename: str
    definitions: dict[str, Definition] = field(default_factory=dict)
    entanglement_spans: list[list[Span]] = field(default_factory=list)
    grid_span: Span | None = None
    # Names whose statement failed to parse: references to them are not reported again.
    broken: frozenset[str] = frozenset()

    def cell(self, cell_id: str) -> Cell | None:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        return None
