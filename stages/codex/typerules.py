"""Type rule of every operator (codexlang.md "Operators"): operand types in, result type out.

The rules mirror the reference interpreter's layout rules (``interp_values``,
``interp_fieldops``): numbers broadcast over fields; a scalar field scales a
vector field in ``*`` ``/`` ``^``; ∅ adopts its partner's layout; ∇ adds a
component axis of size d, ∇· removes it, ∇× gives a vector in 3-D and a scalar
in 2-D; ⊗ is the pointwise tensor product (components multiply); □, d/dt and
⧖ need a time axis. A violated rule raises ``CodexTypeError`` positioned at the
offending operand (unary operators, arguments) or at the operator (binary ones).

``strict`` (the checker) also refuses ``scalar field ± vector field``, which the
interpreter would broadcast but is almost always a mistake; the cost model runs
non-strict so it accepts everything the interpreter accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from stages.codex.ast import Node, Span
from stages.codex.errors import CodexError, CodexTypeError
from stages.codex.glyphs import OP_BP, OP_GLYPH
from stages.codex.grid import GridSpec
from stages.codex.types import BOOL, NUMBER, UNKNOWN, ZERO_FIELD, FieldType

ARITHMETIC = frozenset({"add", "sub", "mul", "truediv", "pow"})
SCALING = frozenset({"mul", "truediv", "pow"})
CONNECTIVE_OPS = frozenset({"and", "or", "implies", "iff"})
ORDERINGS = frozenset({"lt", "le", "gt", "ge"})


def _literal_number(node: Node) -> float | None:
    if node.op == "num" and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    return None


@dataclass
class RuleContext:
    """What rules need besides operand types: the grid, strictness, and literal lookup (params)."""

    grid: GridSpec
    strict: bool = True
    literal: Callable[[Node], float | None] = field(default=_literal_number)
    data_dir: str | None = None


def start_span(node: Node) -> Span | None:
    """Position of the first token of ``node`` (binary nodes are positioned at their operator)."""
    while (node.op in OP_BP or node.op == "approx") and node.args:
        node = node.args[0]
    return node.span


def snippet(node: Node) -> str:
    """Short source text of an operand for messages (large operands are not printed in full)."""
    from stages.codex.printer import to_source

    if _larger_than(node, 40):
        return f"… {glyph(node.op)} …" if node.op in OP_BP else f"{glyph(str(node.value or node.op))}(…)"
    text = to_source(node)
    return text if len(text) <= 40 else text[:37] + "…"


def _larger_than(node: Node, limit: int) -> bool:
    count, stack = 0, [node]
    while stack:
        count += 1
        if count > limit:
            return True
        current = stack.pop()
        stack.extend(current.args)
        stack.extend(v for _, v in current.kw)
    return False


def fail(node: Node, message: str, hint: str | None = None, *, at_operator: bool = False,
         error: type[CodexError] = CodexTypeError, code: str = "type") -> NoReturn:
    span = node.span if at_operator else start_span(node)
    raise error.at(span, message, hint=hint, code=code)


def glyph(op: str) -> str:
    return OP_GLYPH.get(op, op)


def operator_type(node: Node, args: list[FieldType], ctx: RuleContext) -> FieldType:
    """Result type of a non-leaf, non-call, non-evolve node from its operand types."""
    if any(a.unknown for a in args):
        return UNKNOWN
    op = node.op
    if op in ("grad", "div", "curl", "lap", "dalembert", "ddt"):
        return differential(node, args[0], ctx)
    if op == "neg":
        return negation(node, args[0])
    if op == "delay":
        return delay(node, args, ctx)
    if op in ARITHMETIC:
        return arithmetic(node, args, ctx)
    if op == "outer":
        return outer(node, args)
    if op in ("dot", "cross"):
        return vector_product(node, args)
    if op in ("oplus", "ominus"):
        return superpose(node, args, ctx)
    if op in ORDERINGS or op in ("eq", "ne", "approx"):
        return comparison(node, args)
    if op in CONNECTIVE_OPS or op == "not":
        for arg, t in zip(node.args, args, strict=True):
            if t.kind != "bool":
                fail(arg, f"{glyph(op)} expects truth values, got {t.describe()} ({snippet(arg)})",
                     "compare it first, e.g. norm(u) < 1")
        return BOOL
    if op == "tuple":
        for arg, t in zip(node.args, args, strict=True):
            if t.kind != "number":
                fail(arg, f"tuple items must be numbers, got {t.describe()} ({snippet(arg)})")
        return FieldType("tuple", length=len(args))
    fail(node, f"unsupported operator '{op}'", at_operator=True, code="unsupported")


def _arity(node: Node, count: int) -> None:
    if len(node.args) != count:
        fail(node, f"{glyph(node.op)} takes {count} operand(s), got {len(node.args)}", at_operator=True)


def require_grid_field(node: Node, operand: Node, t: FieldType, what: str, hint: str | None = None) -> None:
    if t.kind != "field":
        if t.kind == "number" and hint is None:
            hint = f"const({snippet(operand)}) is the constant field"
        fail(operand, f"{glyph(node.op)} expects {what}, got {t.describe()} ({snippet(operand)})", hint)


def differential(node: Node, t: FieldType, ctx: RuleContext) -> FieldType:
    _arity(node, 1)
    operand, op, grid = node.args[0], node.op, ctx.grid
    if op == "grad":
        require_grid_field(node, operand, t, "a scalar field")
        if t.zero:
            return t
        if t.components is not None:
            fail(operand, f"∇ expects a scalar field, got {t.describe()} ({snippet(operand)})",
                 "∇· (div) and ∇× (curl) act on vector fields")
        return FieldType("field", components=grid.rank, time=t.time, complex=t.complex)
    if op in ("div", "curl"):
        if op == "curl" and grid.rank == 1:
            fail(node, "∇× needs a 2-D or 3-D grid; this grid is 1-D", at_operator=True)
        hint = f"did you mean Δ{snippet(operand)} (= ∇·∇{snippet(operand)})?" \
            if op == "div" and t.kind == "field" and t.components is None else None
        require_grid_field(node, operand, t, "a vector field", hint)
        if t.zero:
            return ZERO_FIELD
        if t.components is None:
            fail(operand, f"{glyph(op)} expects a vector field, got {t.describe()} ({snippet(operand)})", hint)
        if t.components != grid.rank:
            fail(operand, f"{glyph(op)} expects a vector field with {grid.rank} components on this "
                          f"{grid.rank}-D grid, got {t.components} ({snippet(operand)})")
        components = 3 if op == "curl" and grid.rank == 3 else None
        return FieldType("field", components=components, time=t.time, complex=t.complex)
    require_grid_field(node, operand, t, "a field")
    if op == "lap" or t.zero:
        return t
    require_time(node, operand, t, ctx, 2 if op == "ddt" else 3)
    return t


def require_time(node: Node, operand: Node, t: FieldType, ctx: RuleContext, min_steps: int) -> None:
    if not t.time:
        fail(operand, f"{glyph(node.op)} needs a field with a time axis, got {t.describe()} without one "
                      f"({snippet(operand)})",
             "give the grid a time axis (grid … time 32 step 0.01) and let the field depend on t")
    steps = ctx.grid.time_steps or 0
    if steps < min_steps:
        fail(operand, f"{glyph(node.op)} needs at least {min_steps} time steps; the grid has {steps}")


def negation(node: Node, t: FieldType) -> FieldType:
    _arity(node, 1)
    if t.kind in ("field", "number", "bool"):
        return t
    operand = node.args[0]
    fail(operand, f"¬ expects a field or a number, got {t.describe()} ({snippet(operand)})")


def delay(node: Node, args: list[FieldType], ctx: RuleContext) -> FieldType:
    _arity(node, 2)
    operand, steps = node.args
    require_grid_field(node, operand, args[0], "a field with a time axis")
    k = ctx.literal(steps) if args[1].kind == "number" else None
    if k is None or not k.is_integer():
        fail(steps, f"the delay must be a whole number of steps, got {snippet(steps)}", "write ⧖2 u or delay(u, 2)")
    if args[0].zero:
        return args[0]
    require_time(node, operand, args[0], ctx, 1)
    return args[0]


def _numeric_operands(node: Node, args: list[FieldType]) -> None:
    for arg, t in zip(node.args, args, strict=True):
        if not t.is_numeric:
            fail(arg, f"{glyph(node.op)} expects numbers or fields, got {t.describe()} ({snippet(arg)})",
                 "reduce samples or predicates first" if t.kind in ("samples", "bool") else None)


def join_fields(node: Node, args: list[FieldType], *, allow_mixed: bool) -> FieldType:
    """Layout several numeric operands broadcast to (numbers broadcast; ∅ adopts)."""
    fields = [t for t in args if t.kind == "field"]
    cx = any(t.complex for t in args)
    if not fields:
        return FieldType("number", complex=cx)
    solid = [t for t in fields if not t.zero]
    if not solid:
        return FieldType("field", complex=cx, time=any(t.time for t in fields))
    counts = {t.components for t in solid}
    vectors = {c for c in counts if c is not None}
    if len(vectors) > 1:
        fail(node, f"{glyph(node.op)} combines vector fields with different component counts "
                   f"({', '.join(str(c) for c in sorted(vectors))})", at_operator=True)
    if len(counts) > 1 and not allow_mixed:
        scalar = next(a for a, t in zip(node.args, args, strict=True) if t.kind == "field" and not t.zero
                      and t.components is None)
        vec = next(a for a, t in zip(node.args, args, strict=True) if t.components is not None)
        fail(node, f"{glyph(node.op)} cannot combine a scalar field ({snippet(scalar)}) with a vector field "
                   f"({snippet(vec)})", "reduce the vector first (∇·, • or a component-free form)",
             at_operator=True)
    return FieldType("field", components=next(iter(vectors), None), time=any(t.time for t in fields), complex=cx)


def arithmetic(node: Node, args: list[FieldType], ctx: RuleContext) -> FieldType:
    if len(node.args) < 2 or (node.op not in ("add", "mul") and len(node.args) != 2):
        _arity(node, 2)
    _numeric_operands(node, args)
    return join_fields(node, args, allow_mixed=node.op in SCALING or not ctx.strict)


def outer(node: Node, args: list[FieldType]) -> FieldType:
    _arity(node, 2)
    _numeric_operands(node, args)
    a, b = args
    if a.kind == "number" or b.kind == "number":
        return join_fields(node, args, allow_mixed=True)
    if a.zero or b.zero:
        return a if a.zero else b
    if a.components is None and b.components is None:
        components = None
    else:
        components = (a.components or 1) * (b.components or 1)
    return FieldType("field", components=components, time=a.time or b.time, complex=a.complex or b.complex)


def vector_product(node: Node, args: list[FieldType]) -> FieldType:
    _arity(node, 2)
    for arg, t in zip(node.args, args, strict=True):
        if t.kind != "field" or (t.components is None and not t.zero):
            fail(arg, f"{glyph(node.op)} expects two vector fields, got {t.describe()} ({snippet(arg)})",
                 "use * to scale by a scalar" if t.kind in ("field", "number") else None)
    a, b = args
    if a.zero or b.zero:
        return a if a.zero else b
    if a.components != b.components:
        fail(node, f"{glyph(node.op)} needs vectors with the same number of components, "
                   f"got {a.components} and {b.components}", at_operator=True)
    time, cx = a.time or b.time, a.complex or b.complex
    if node.op == "dot":
        return FieldType("field", time=time, complex=cx)
    if a.components not in (2, 3):
        fail(node, f"× needs 2- or 3-component vectors, got {a.components}", at_operator=True)
    return FieldType("field", components=3 if a.components == 3 else None, time=time, complex=cx)


def superpose(node: Node, args: list[FieldType], ctx: RuleContext) -> FieldType:
    if node.op == "ominus" or len(node.args) < 2:
        _arity(node, 2)
    _numeric_operands(node, args)
    if ctx.strict:
        for arg, t in zip(node.args, args, strict=True):
            if t.kind != "field":
                fail(arg, f"{glyph(node.op)} superposes fields, got {t.describe()} ({snippet(arg)})",
                     f"const({snippet(arg)}) is the constant field")
    joined = join_fields(node, args, allow_mixed=not ctx.strict)
    return FieldType("field", components=joined.components, time=joined.time, complex=joined.complex)


def comparison(node: Node, args: list[FieldType]) -> FieldType:
    _arity(node, 3 if node.op == "approx" else 2)
    op = node.op
    if op in ("eq", "ne") and args[0].kind == args[1].kind and args[0].kind in ("bool", "str"):
        return BOOL
    for arg, t in zip(node.args, args, strict=True):
        if t.kind != "number":
            fail(arg, f"{glyph(op)} compares numbers, got {t.describe()} ({snippet(arg)})",
                 "compare an observable of it: norm(…), max(…), mean(…)" if t.kind == "field" else None)
        if op in ORDERINGS and t.complex:
            fail(arg, f"{glyph(op)} needs real numbers, got {t.describe()} ({snippet(arg)})",
                 "compare abs(…) or real(…)")
    return BOOL


__all__ = ["NUMBER", "RuleContext", "fail", "operator_type", "snippet", "start_span"]
