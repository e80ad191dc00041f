"""Static checks of a parsed sheet, and the checked model every later stage starts from.

``check_sheet`` reports, all at once: unknown names (with a suggestion), reference
cycles (naming every member and where it is defined), shape/type mismatches at
the operator or operand, bad evolve steps, goals of the wrong type, and ↔ links to
things that are not cells. Duplicates, reserved names and grid mistakes come from
the parser and are merged in (``prior``). A sheet with any error raises one
``CodexErrors``; otherwise the result lists the cells in topological order with
their type, shape, direct dependencies, expanded expression and goal, main input
and entanglement group.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from stages.codex.ast import Node, Span
from stages.codex.eids import eid_for, entanglement_groups
from stages.codex.errors import CodexCycleError, CodexError, CodexNameError, CodexTypeError, raise_all
from stages.codex.expand import Expander, check_size
from stages.codex.grid import GridSpec
from stages.codex.infer import TypeInference
from stages.codex.parser import parse_sheet_partial
from stages.codex.sheet import Cell, Sheet
from stages.codex.typerules import RuleContext, snippet, start_span
from stages.codex.types import NUMBER, UNKNOWN, FieldType

__all__ = ["CheckedCell", "CheckedSheet", "check_sheet", "compile_sheet", "type_of_expanded"]


@dataclass(frozen=True, slots=True)
class CheckedCell:
    """A cell that passed every check; ``expanded`` is self-contained (see ``expand``)."""

    id: str
    expr: Node
    goal: Node | None
    precision: str | None
    span: Span
    type: FieldType
    shape: tuple[int, ...]
    deps: tuple[str, ...]
    expanded: Node
    expanded_goal: Node | None
    main_input: Node | None


@dataclass(frozen=True)
class CheckedSheet:
    sheet: Sheet
    cells: tuple[CheckedCell, ...]  # topological order: a cell after every cell it uses
    groups: tuple[tuple[str, ...], ...]  # entanglement groups (sorted members); each cell in one
    types: Mapping[str, FieldType]  # every param, let and cell

    @cached_property
    def _group_index(self) -> dict[str, tuple[str, ...]]:
        return {cell: group for group in self.groups for cell in group}

    def group_of(self, cell_id: str) -> tuple[str, ...]:
        return self._group_index[cell_id]

    def eids(self, sheet_run_id: str) -> dict[str, list[str]]:
        """The entanglement map ``{eid: [members]}`` of one run."""
        return {eid_for(sheet_run_id, group): list(group) for group in self.groups}

    def eid_of(self, cell_id: str, sheet_run_id: str) -> str:
        return eid_for(sheet_run_id, self.group_of(cell_id))


def compile_sheet(text: str | bytes, filename: str = "<sheet>", *, data_dir: str | None = None) -> CheckedSheet:
    """Parse and check; raises one ``CodexErrors`` with every syntax and check error."""
    sheet, errors = parse_sheet_partial(text, filename)
    return check_sheet(sheet, data_dir=data_dir, prior=errors)


def check_sheet(sheet: Sheet, *, data_dir: str | None = None, prior: Sequence[CodexError] = ()) -> CheckedSheet:
    return _Checker(sheet, data_dir, list(prior)).run()


class _Checker:
    def __init__(self, sheet: Sheet, data_dir: str | None, errors: list[CodexError]) -> None:
        self.sheet = sheet
        self.errors = errors
        self.cells: dict[str, Cell] = {c.id: c for c in sheet.cells}
        self.exprs: dict[str, Node] = {**sheet.lets, **{c.id: c.expr for c in sheet.cells}}
        self.ctx = RuleContext(sheet.grid, strict=True, literal=self.literal, data_dir=data_dir)
        self.types: dict[str, FieldType] = {name: NUMBER for name in sheet.params}

    def literal(self, node: Node) -> float | None:
        value = node.value
        if node.op == "ref" and isinstance(value, str):
            value = self.sheet.params.get(value)
        elif node.op != "num":
            return None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def run(self) -> CheckedSheet:
        refs = {name: list(_free_refs(expr, frozenset())) for name, expr in self.exprs.items()}
        goal_refs = {c.id: list(_free_refs(c.goal, frozenset())) if c.goal else [] for c in self.sheet.cells}
        edges = {name: _unique(r for r, _ in found if r in self.exprs) for name, found in refs.items()}
        in_cycle = self.find_cycles(edges, refs)
        order_edges = {n: _unique([*edges[n], *(r for r, _ in goal_refs.get(n, []) if r in self.exprs)])
                       for n in edges}
        order = _topological([n for n in self.sheet.definitions if n in self.exprs] or list(self.exprs),
                             order_edges)
        silent = set(self.sheet.broken) | in_cycle
        for name in order:
            self.types[name] = UNKNOWN if name in in_cycle else self.value_type(name, silent)
        for cell in self.sheet.cells:
            if cell.goal is not None:
                self.check_goal(cell, silent)
        self.check_entanglements()
        if not self.sheet.cells and not self.errors:
            lines = max(len(self.sheet.source.split("\n")) - 1, 1)
            self.errors.append(CodexNameError(
                "the sheet has no cells, so nothing would run", file=self.sheet.filename, line=lines, col=1,
                hint="add one: cell NAME : EXPR", code="no-cells"))
        raise_all(self.errors)
        return self.build(order, refs, goal_refs)

    def inference(self, silent: set[str], goal_scope: bool = False) -> TypeInference:
        return TypeInference(self.ctx, self.types, sink=self.errors, goal_scope=goal_scope, silent=silent,
                             suggestions=self.sheet.definitions.keys())

    def value_type(self, name: str, silent: set[str]) -> FieldType:
        expr = self.exprs[name]
        found = self.inference(silent).infer(expr)
        if found.kind in ("tuple", "str"):
            kind = "cell" if name in self.cells else "let"
            self.errors.append(CodexTypeError.at(start_span(expr), f"a {kind}'s value must be a field, a number "
                                                 f"or a truth value, got {found.describe()} ({snippet(expr)})"))
            return UNKNOWN
        return found

    def find_cycles(self, edges: dict[str, list[str]], refs: dict[str, list[tuple[str, Span | None]]]) -> set[str]:
        """Report every reference cycle once (at the reference that closes it); return all members."""
        color: dict[str, int] = {}
        members: set[str] = set()
        reported: set[frozenset[str]] = set()
        for root in self.exprs:
            if color.get(root):
                continue
            color[root] = 1
            path = [root]
            stack: list[Iterator[str]] = [iter(edges[root])]
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    color[path.pop()] = 2
                    stack.pop()
                    continue
                state = color.get(nxt, 0)
                if state == 0:
                    color[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(edges[nxt]))
                elif state == 1:
                    cycle = path[path.index(nxt):]
                    members.update(cycle)
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        span = next(s for r, s in refs[path[-1]] if r == nxt)
                        self.errors.append(self.cycle_error(cycle, span))
        return members

    def cycle_error(self, cycle: list[str], span: Span | None) -> CodexError:
        chain = " → ".join([*cycle, cycle[0]])
        if len(cycle) == 1:
            hint = f"{cycle[0]} refers to itself; to step a value use ⟲n {cycle[0]} ← …"
        else:
            places = ", ".join(f"{n} at line {self.sheet.definitions[n].span.line}" for n in cycle
                               if n in self.sheet.definitions)
            hint = f"defined: {places}; references must not loop"
        return CodexCycleError.at(span, f"reference cycle: {chain}", hint=hint, code="cycle")

    def check_goal(self, cell: Cell, silent: set[str]) -> None:
        assert cell.goal is not None
        goal_type = self.inference(silent, goal_scope=True).infer(cell.goal)
        cell_type = self.types.get(cell.id, UNKNOWN)
        if goal_type.unknown or goal_type.kind == "bool" or cell_type.unknown:
            return
        if goal_type.kind == cell_type.kind and (goal_type.kind == "number" or (
                goal_type.kind == "field" and (goal_type.zero or cell_type.zero or (
                    goal_type.components == cell_type.components and goal_type.time == cell_type.time)))):
            return
        self.errors.append(CodexTypeError.at(
            start_span(cell.goal),
            f"a goal is a predicate or a target of the cell's own type; this goal is {goal_type.describe()}, "
            f"the cell is {cell_type.describe()}",
            hint="e.g. goal: energy < energy(u), or goal: max ≈ 4 ± 0.1"))

    def check_entanglements(self) -> None:
        for names, spans in zip(self.sheet.entanglements, self.sheet.entanglement_spans, strict=True):
            for name, span in zip(names, spans, strict=True):
                if name in self.cells or name in self.sheet.broken:
                    continue
                found = self.sheet.definitions.get(name)
                if found is not None:
                    self.errors.append(CodexNameError.at(span, f"'{name}' is a {found.kind}; only cells can be "
                                                         "entangled", code="entangle"))
                    continue
                close = difflib.get_close_matches(name, sorted(self.cells), n=1)
                self.errors.append(CodexNameError.at(
                    span, f"unknown cell '{name}' in the entanglement",
                    hint=f"did you mean {close[0]}?" if close else "entangle cells defined with cell NAME : …",
                    code="entangle"))

    def build(self, order: list[str], refs: dict[str, list[tuple[str, Span | None]]],
              goal_refs: dict[str, list[tuple[str, Span | None]]]) -> CheckedSheet:
        expander = Expander(self.sheet, self.types)
        checked: list[CheckedCell] = []
        for name in order:
            cell = self.cells.get(name)
            if cell is None:
                continue
            try:
                expanded = expander.name(cell.id)
                check_size(expanded, f"cell {cell.id}", cell.span)
                goal = expander.expand(cell.goal) if cell.goal is not None else None
                if goal is not None:
                    check_size(goal, f"the goal of {cell.id}", cell.span)
                main_input = expander.main_input(cell.id)
            except CodexError as exc:
                self.errors.append(exc)
                continue
            deps = _unique(r for r, _ in [*refs[cell.id], *goal_refs[cell.id]] if r in self.sheet.definitions)
            cell_type = self.types[cell.id]
            checked.append(CheckedCell(
                id=cell.id, expr=cell.expr, goal=cell.goal, precision=cell.precision, span=cell.span,
                type=cell_type, shape=cell_type.shape(self.sheet.grid), deps=tuple(deps), expanded=expanded,
                expanded_goal=goal, main_input=main_input,
            ))
        raise_all(self.errors)
        groups = entanglement_groups([c.id for c in checked], self.sheet.entanglements)
        return CheckedSheet(self.sheet, tuple(checked), tuple(groups), dict(self.types))


def _free_refs(node: Node, bound: frozenset[str]) -> Iterator[tuple[str, Span | None]]:
    """References not bound by an enclosing evolve, in pre-order (evolve count and start outside)."""
    if node.op == "ref":
        if node.value not in bound:
            yield str(node.value), node.span
        return
    if node.op == "evolve" and len(node.args) == 3:
        count, start, body = node.args
        yield from _free_refs(count, bound)
        yield from _free_refs(start, bound)
        yield from _free_refs(body, bound | {str(node.value)})
        return
    for child in node.args:
        yield from _free_refs(child, bound)
    for _, child in node.kw:
        yield from _free_refs(child, bound)


def _unique(items: Iterator[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _topological(roots: list[str], edges: dict[str, list[str]]) -> list[str]:
    """Post-order DFS from each root in source order: dependencies first, ties in source order."""
    order: list[str] = []
    seen: set[str] = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(edges.get(root, ())))]
        while stack:
            name, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                order.append(name)
                stack.pop()
            elif nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, iter(edges.get(nxt, ()))))
    return order


def type_of_expanded(node: Node, grid: GridSpec) -> dict[str, Any]:
    """The ``type`` JSON of a self-contained (expanded) expression, e.g. a rewritten or fused form.

    Only built-in names and evolve variables may be free; raises ``CodexError`` when the
    expression does not type-check or is not a cell value (a tuple, a string).
    """
    errors: list[CodexError] = []
    found = TypeInference(RuleContext(grid, strict=True), {}, sink=errors).infer(node)
    raise_all(errors)
    if found.kind not in ("field", "number", "bool", "samples"):
        raise CodexTypeError.at(start_span(node), f"a cell's value must be a field, a number or a truth value, "
                                f"got {found.describe()}")
    return found.to_json()
