"""Canonical CodexLang text of an AST: glyph spellings, parentheses only where needed.

Contract: for every tree the parser can produce, ``parse_expr(to_source(t)) == t``
(property-tested). Trees the parser never builds still print readably: an evolve
whose start is not its own variable prints as ``⟲n (x = INIT) ← BODY``; a delay by
a non-literal step count as ``delay(x, k)``; non-finite numbers as ``inf``/``nan``
(display only: the lexer rejects them).
"""

from __future__ import annotations

import math
import re

from stages.codex.ast import Node
from stages.codex.exprparser import is_logical
from stages.codex.glyphs import (
    BP_ATOM,
    BP_COMPARE,
    BP_EVOLVE,
    BP_NOT,
    BP_PIPE,
    BP_PREFIX,
    BP_UMINUS,
    OP_BP,
    OP_GLYPH,
    RIGHT_ASSOC,
)
from stages.codex.sheet import Sheet

__all__ = ["format_number", "sheet_to_source", "to_source"]

_KEYWORD_LIKE = re.compile(r"^[^\W\d]\w* = ")
PREFIX_OPS = frozenset({"grad", "div", "curl", "lap", "dalembert", "ddt", "neg"})
ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}


def to_source(node: Node) -> str:
    """Canonical source text of ``node``."""
    return _Printer().text(node, 0)


def format_number(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)


class _Printer:
    def text(self, node: Node, min_bp: int) -> str:
        """``node`` printed so that it binds at least as tightly as ``min_bp`` (else parenthesised)."""
        body, bp = self.form(node)
        return f"({body})" if bp < min_bp else body

    def form(self, node: Node) -> tuple[str, int]:
        """Source of ``node`` and the binding power of its outermost operator."""
        op = node.op
        if op == "num":
            text = format_number(node.value)
            return text, (BP_UMINUS if text.startswith("-") else BP_ATOM)
        if op in ("ref", "attr"):
            return str(node.value), BP_ATOM
        if op == "str":
            return '"' + "".join(ESCAPES.get(c, c) for c in str(node.value)) + '"', BP_ATOM
        if op == "bool":
            return ("⊤" if node.value else "⊥"), BP_ATOM
        if op == "empty":
            return "∅", BP_ATOM
        if op == "tuple":
            items = [self.text(a, 0) for a in node.args]
            return ("(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"), BP_ATOM
        if op == "call":
            return self.call(str(node.value), node.args, node.kw), BP_ATOM
        if op in PREFIX_OPS and len(node.args) == 1:
            return self.prefix(node)
        if op == "not" and len(node.args) == 1:
            operand = node.args[0]
            if is_logical(operand):
                return "¬" + self.text(operand, BP_PREFIX), BP_PREFIX
            return "not " + self.text(operand, BP_NOT + 1), BP_NOT
        if op == "delay" and len(node.args) == 2:
            return self.delay(node)
        if op == "evolve" and len(node.args) == 3:
            return self.evolve(node)
        if op == "approx" and len(node.args) == 3:
            x, v, tol = (self.text(a, BP_COMPARE + 1) for a in node.args)
            return f"{x} ≈ {v} ± {tol}", BP_COMPARE
        if op in OP_BP and len(node.args) >= 2:
            return self.infix(node)
        return self.call(op, node.args, node.kw), BP_ATOM

    def prefix(self, node: Node) -> tuple[str, int]:
        operand = node.args[0]
        if node.op == "neg" and is_logical(operand):
            return "-" + self.text(operand, BP_UMINUS), BP_UMINUS
        glyph = OP_GLYPH[node.op]
        separator = " " if node.op == "ddt" else ""
        return glyph + separator + self.text(operand, BP_PREFIX), BP_PREFIX

    def delay(self, node: Node) -> tuple[str, int]:
        field, steps = node.args
        if steps.op == "num" and isinstance(steps.value, int) and not isinstance(steps.value, bool) \
                and steps.value >= 0:
            return f"⧖{steps.value} " + self.text(field, BP_PREFIX), BP_PREFIX
        return f"delay({self.argument(field)}, {self.argument(steps)})", BP_ATOM

    def evolve(self, node: Node) -> tuple[str, int]:
        count, start, body = node.args
        var = str(node.value)
        head = format_number(count.value) if count.op == "num" else self.text(count, BP_ATOM)
        if start.op == "ref" and start.value == var:
            binding = var
        else:
            binding = f"({var} = {self.text(start, 0)})"
        return f"⟲{head} {binding} ← " + self.text(body, BP_PIPE), BP_EVOLVE

    def infix(self, node: Node) -> tuple[str, int]:
        op = node.op
        bp = OP_BP[op]
        glyph = OP_GLYPH[op]
        if bp == BP_COMPARE:
            left, right = (self.text(a, bp + 1) for a in node.args[:2])
            return f"{left} {glyph} {right}", bp
        if op in RIGHT_ASSOC:
            # Only binary nodes are right associative; fold extra args to the right.
            parts = [self.text(a, bp + 1) for a in node.args[:-1]] + [self.text(node.args[-1], bp)]
        else:
            parts = [self.text(node.args[0], bp)] + [self.text(a, bp + 1) for a in node.args[1:]]
        return f" {glyph} ".join(parts), bp

    def call(self, name: str, args: tuple[Node, ...], kw: tuple[tuple[str, Node], ...]) -> str:
        items = [self.argument(a) for a in args] + [f"{k}={self.text(v, 0)}" for k, v in kw]
        return f"{name}(" + ", ".join(items) + ")"

    def argument(self, arg: Node) -> str:
        # `f(a = b ∧ c)` would read as a keyword argument: keep a leading `name =` positional.
        text = self.text(arg, 0)
        return f"({text})" if _KEYWORD_LIKE.match(text) else text


def sheet_to_source(sheet: Sheet) -> str:
    """Canonical text of a sheet: name, grid, params, lets, cells, entanglements (one per line)."""
    lines: list[str] = []
    if sheet.name:
        lines.append(f"sheet {sheet.name}")
    grid = sheet.grid
    grid_line = f"grid {'x'.join(str(n) for n in grid.shape)} spacing {format_number(grid.spacing)} " \
                f"boundary {grid.boundary}"
    if grid.time_steps is not None and grid.dt is not None:
        grid_line += f" time {grid.time_steps} step {format_number(grid.dt)}"
    lines.append(grid_line)
    lines.extend(f"param {name} = {format_number(value)}" for name, value in sheet.params.items())
    lines.extend(f"let {name} = {to_source(expr)}" for name, expr in sheet.lets.items())
    for cell in sheet.cells:
        line = f"cell {cell.id} : {to_source(cell.expr)}"
        if cell.goal is not None:
            line += f"  goal: {to_source(cell.goal)}"
        if cell.precision is not None:
            line += f"  precision {cell.precision}"
        lines.append(line)
    lines.extend(" ↔ ".join(group) for group in sheet.entanglements)
    return "\n".join(lines) + "\n"
