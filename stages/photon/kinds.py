"""Static kinds of sub-expressions: what a rule's side condition needs to know about its operands.

Mirrors the reference interpreter's value rules (``stages.codex.interp_values``):
numbers stay numbers, elementwise operations broadcast by layout (a scalar field
scales every component; a field without a time axis is the same at every step),
∅ is the zero field that broadcasts to any layout and passes through the
structural operators (∇ ∇· ∇× Δ □ d/dt ⧖ ⊗ • ×) as ∅. ``other`` means "not
known here" (strings, tuples, sample lists, a ``load`` of unknown layout, an
ill-typed operand): every rule that needs a kind refuses to fire on ``other``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.codex.ast import Node

Base = Literal["number", "field", "bool", "other"]

REDUCTIONS = frozenset({"norm", "energy", "mean", "sum", "max", "min", "entropy"})
POINTWISE = frozenset({"abs", "sqrt", "exp", "sin", "cos", "conj", "phase", "real", "imag"})
SPATIAL_INITIALISERS = frozenset({"gaussian", "const", "zeros", "random", "plane_wave"})
ELEMENTWISE = frozenset({"add", "sub", "mul", "truediv", "pow"})
PREDICATES = frozenset({"lt", "le", "gt", "ge", "eq", "ne", "approx", "and", "or", "implies", "iff", "not"})


@dataclass(frozen=True, slots=True)
class Kind:
    """A value's kind: base, component count of a vector field, time axis, and whether it is ∅."""

    base: Base
    components: int | None = None
    time: bool = False
    empty: bool = False

    @property
    def is_field(self) -> bool:
        return self.base == "field"

    @property
    def is_number(self) -> bool:
        return self.base == "number"

    def layout(self) -> tuple[int | None, bool]:
        return (self.components, self.time)


NUMBER = Kind("number")
BOOL = Kind("bool")
OTHER = Kind("other")
SCALAR_FIELD = Kind("field")
EMPTY_KIND = Kind("field", empty=True)


def joint(kinds: list[Kind]) -> Kind:
    """Kind of an elementwise combination (interpreter ``elementwise``): numbers broadcast into fields."""
    if any(k.base not in ("number", "field") for k in kinds):
        return OTHER
    fields = [k for k in kinds if k.is_field]
    if not fields:
        return NUMBER
    counts = {k.components for k in fields if k.components is not None and not k.empty}
    if len(counts) > 1:
        return OTHER
    return Kind("field", next(iter(counts), None), any(k.time for k in fields))


class KindInference:
    """Memoised kind inference for the nodes of one expression on a grid of rank ``rank``.

    ``variables`` gives the kinds of evolve variables (bound names inside bodies).
    """

    def __init__(self, rank: int, has_time: bool, variables: dict[str, Kind] | None = None) -> None:
        self.rank = rank
        self.has_time = has_time
        self.variables = dict(variables or {})
        self._memo: dict[int, tuple[Node, Kind]] = {}

    def of(self, node: Node) -> Kind:
        hit = self._memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        kind = self._infer(node)
        self._memo[id(node)] = (node, kind)
        return kind

    def _infer(self, node: Node) -> Kind:
        op = node.op
        if op == "num":
            return NUMBER if isinstance(node.value, int | float) and not isinstance(node.value, bool) else OTHER
        if op == "bool" or op in PREDICATES:
            return BOOL
        if op == "empty":
            return EMPTY_KIND
        if op == "ref":
            return self._ref(str(node.value))
        if op == "neg":
            inner = self.of(node.args[0]) if len(node.args) == 1 else OTHER
            return inner if inner.base in ("number", "bool") else joint([inner])
        if op in ELEMENTWISE:
            return joint([self.of(a) for a in node.args]) if node.args else OTHER
        if op in ("grad", "div", "curl", "lap", "dalembert", "ddt", "delay"):
            return self._differential(node)
        if op in ("outer", "dot", "cross"):
            return self._product(node)
        if op in ("oplus", "ominus"):
            kinds = [self.of(a) for a in node.args]
            combined = joint(kinds)
            return Kind("field", combined.components, combined.time) if combined.base != "other" else OTHER
        if op == "call":
            return self._call(node)
        if op == "evolve" and len(node.args) == 3:
            return self.of(node.args[1])
        return OTHER

    def _ref(self, name: str) -> Kind:
        if name in self.variables:
            return self.variables[name]
        if name == "pi":
            return NUMBER
        if name in ("x", "y", "z"):
            return SCALAR_FIELD if "xyz".index(name) < self.rank else OTHER
        if name == "t":
            return Kind("field", None, True) if self.has_time else OTHER
        return OTHER

    def _differential(self, node: Node) -> Kind:
        expected = 2 if node.op == "delay" else 1
        if len(node.args) != expected:
            return OTHER
        arg = self.of(node.args[0])
        if not arg.is_field:
            return OTHER
        if arg.empty:
            return EMPTY_KIND
        op = node.op
        if op == "grad":
            return Kind("field", self.rank, arg.time) if arg.components is None else OTHER
        if op in ("div", "curl"):
            if arg.components != self.rank or (op == "curl" and self.rank == 1):
                return OTHER
            components = 3 if op == "curl" and self.rank == 3 else None
            return Kind("field", components, arg.time)
        if op in ("ddt", "dalembert", "delay") and not arg.time:
            return OTHER
        return arg

    def _product(self, node: Node) -> Kind:
        if len(node.args) != 2:
            return OTHER
        a, b = (self.of(x) for x in node.args)
        if node.op == "outer" and not (a.is_field and b.is_field):
            return joint([a, b])
        if not (a.is_field and b.is_field):
            return OTHER
        if a.empty or b.empty:
            return EMPTY_KIND
        time = a.time or b.time
        if node.op == "outer":
            if a.components is None and b.components is None:
                return Kind("field", None, time)
            return Kind("field", (a.components or 1) * (b.components or 1), time)
        if a.components is None or a.components != b.components:
            return OTHER
        if node.op == "dot":
            return Kind("field", None, time)
        if a.components not in (2, 3):
            return OTHER
        return Kind("field", 3 if a.components == 3 else None, time)

    def _call(self, node: Node) -> Kind:
        name = str(node.value)
        if name in REDUCTIONS:
            return NUMBER
        if name == "finite":
            return BOOL
        if name in POINTWISE:
            return joint([self.of(a) for a in node.args]) if len(node.args) == 1 else OTHER
        if name in SPATIAL_INITIALISERS:
            return SCALAR_FIELD
        if name == "interfere":
            combined = joint([self.of(a) for a in node.args]) if node.args else OTHER
            return Kind("field", combined.components, combined.time) if combined.is_field else OTHER
        return OTHER


def evolve_variable_kinds(root: Node, rank: int, has_time: bool) -> dict[str, Kind]:
    """Kinds of the variables bound by ``evolve`` nodes (their init's kind; OTHER if a name is reused
    with different kinds, so no rule relies on it)."""
    found: dict[str, Kind] = {}
    inference = KindInference(rank, has_time)
    for node in root.walk():
        if node.op == "evolve" and len(node.args) == 3:
            name = str(node.value)
            kind = inference.of(node.args[1])
            if kind.empty:
                kind = OTHER
            found[name] = kind if found.get(name, kind) == kind else OTHER
            inference = KindInference(rank, has_time, found)
    return found
