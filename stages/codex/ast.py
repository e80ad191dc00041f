"""The CodexLang syntax tree: one uniform, immutable node type shared by every stage.

A uniform node (``op`` + ordered ``args`` + optional ``value`` + keyword args) keeps
rewriting rules data-driven (Photon matches on ``op``), makes JSON round-trips
trivial, and lets QWave compile by dispatching on ``op``.

Opcode catalogue (``op`` → meaning; ``args`` order matters):

leaves
    ``num``      value: float | int                      a number literal or a folded param
    ``bool``     value: bool                             ⊤ / ⊥
    ``str``      value: str                              a string literal (``load("f.npy")``)
    ``ref``      value: name                             a reference (param, let, cell, x y z t pi,
                                                          or the variable bound by ``evolve``)
    ``empty``                                            ∅, the zero field
    ``tuple``    args: elements                          ``(0.5, 0.5)`` in keyword arguments
unary field operators
    ``grad`` ``div`` ``curl`` ``lap`` ``dalembert`` ``ddt`` ``neg``          args: (x,)
    ``delay``    args: (x, k)                            ⧖k x / delay(x, k)
binary / n-ary operators (the parser builds binary nodes; Photon may flatten
commutative ``add`` ``mul`` into n-ary ones; ``oplus`` normalises once over all args)
    ``add`` ``sub`` ``mul`` ``truediv`` ``pow`` ``outer`` ``dot`` ``cross`` ``oplus`` ``ominus``
calls
    ``call``     value: function name, args: positional, kw: keyword args
                 functions: norm energy mean max min sum abs sqrt exp sin cos conj phase
                 real imag entropy finite interfere sample
                 initialisers: gaussian const zeros random plane_wave load
evolve
    ``evolve``   value: variable name, args: (n: num, init, body)
                 ``⟲n x ← E``: start from ``init`` (the parser puts ``ref x``; Codex
                 expansion substitutes x's binding) and rebind x to ``body`` n times.
predicates (goals and SoulLaw rules)
    ``lt`` ``le`` ``gt`` ``ge`` ``eq`` ``ne``          args: (a, b)
    ``approx``   args: (x, v, tol)                      x ≈ v ± tol
    ``and`` ``or`` ``implies`` ``iff``                 args: (a, b)
    ``not``      args: (a,)
    ``attr``     value: dotted path ("score.qscore")   event field access in policies

A pipe ``u → Δ → norm`` is desugared by the parser into ``call norm(lap(u))``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Scalar = float | int | bool | str | None


@dataclass(frozen=True, slots=True)
class Span:
    """Source position of a node: 1-based line and column, plus the file name."""

    line: int
    col: int
    file: str = "<sheet>"


@dataclass(frozen=True, slots=True)
class Node:
    """One AST node. Equality and hashing ignore the source span."""

    op: str
    args: tuple[Node, ...] = ()
    value: Scalar = None
    kw: tuple[tuple[str, Node], ...] = ()
    span: Span | None = field(default=None, compare=False, hash=False, repr=False)

    def kwargs(self) -> dict[str, Node]:
        return dict(self.kw)

    def walk(self) -> Iterator[Node]:
        """Pre-order traversal (the node, then args, then keyword values)."""
        yield self
        for child in self.args:
            yield from child.walk()
        for _, child in self.kw:
            yield from child.walk()

    def replace(self, **changes: Any) -> Node:
        return Node(
            op=changes.get("op", self.op),
            args=changes.get("args", self.args),
            value=changes.get("value", self.value),
            kw=changes.get("kw", self.kw),
            span=changes.get("span", self.span),
        )

    def to_json(self, with_spans: bool = False) -> dict[str, Any]:
        """Lossless JSON form; keys are omitted when empty so payloads stay small."""
        out: dict[str, Any] = {"op": self.op}
        if self.args:
            out["args"] = [a.to_json(with_spans) for a in self.args]
        if self.value is not None:
            out["value"] = self.value
        if self.kw:
            out["kw"] = [[k, v.to_json(with_spans)] for k, v in self.kw]
        if with_spans and self.span is not None:
            out["span"] = [self.span.line, self.span.col, self.span.file]
        return out

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Node:
        span_data = data.get("span")
        span = Span(int(span_data[0]), int(span_data[1]), str(span_data[2])) if span_data else None
        return Node(
            op=str(data["op"]),
            args=tuple(Node.from_json(a) for a in data.get("args", ())),
            value=data.get("value"),
            kw=tuple((str(k), Node.from_json(v)) for k, v in data.get("kw", ())),
            span=span,
        )


def num(value: float | int) -> Node:
    return Node("num", value=value)


def ref(name: str) -> Node:
    return Node("ref", value=name)


def call(name: str, *args: Node, **kw: Node) -> Node:
    return Node("call", args=tuple(args), value=name, kw=tuple(sorted(kw.items())))


EMPTY = Node("empty")

UNARY_FIELD_OPS = frozenset({"grad", "div", "curl", "lap", "dalembert", "ddt", "neg"})
BINARY_OPS = frozenset({"add", "sub", "mul", "truediv", "pow", "outer", "dot", "cross", "oplus", "ominus"})
COMMUTATIVE_OPS = frozenset({"add", "mul", "oplus"})
COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
CONNECTIVES = frozenset({"and", "or", "implies", "iff", "not"})
OBSERVABLES = ("norm", "energy", "mean", "max", "min", "entropy", "finite")
INITIALISERS = frozenset({"gaussian", "const", "zeros", "random", "plane_wave", "load"})
FUNCTIONS = frozenset(
    {
        "norm", "energy", "mean", "max", "min", "sum", "abs", "sqrt", "exp", "sin", "cos",
        "conj", "phase", "real", "imag", "entropy", "finite", "interfere", "sample",
    }
) | INITIALISERS
BUILTIN_NAMES = frozenset({"x", "y", "z", "t", "pi"})
