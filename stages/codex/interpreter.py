"""The NumPy reference interpreter: evaluates any CodexLang AST (see ``ast.py``) on a grid.

It is the oracle: QWave's JAX path and every Photon rewrite are checked against
it. The array formulas live in ``operators`` (shared with JAX); this module walks
the tree, resolves names and runs evolve loops and predicates.

Names resolve innermost first: the variable of an enclosing ``evolve``, then
``bindings``, then the built-ins ``x y z`` (xᵢ = i·h along array axes 0, 1, 2;
grid shape), ``t`` (t = n·dt, shape [T, *grid]) and ``pi``. In predicates a bare
observable name (``energy``) must be bound — ``evaluate_predicate`` binds the
observables of the cell's value.

Results: a field is a numpy array in layout ``[T,] *grid [, C]``; ∅ is
``zeros(grid.shape)``; numbers are Python float/complex; predicates give bool;
``sample`` gives an int64 array of flat indices. Non-finite intermediate values
are not errors (numpy warnings are silenced): they propagate, and ``finite``
reports them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.codex import interp_calls, interp_fieldops
from stages.codex.ast import BUILTIN_NAMES, OBSERVABLES, Node
from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_init import coordinate
from stages.codex.interp_predicates import observables, predicate
from stages.codex.interp_values import (
    Field,
    Layout,
    Value,
    describe,
    elementwise,
    output,
    require_field,
    require_int,
    to_value,
)

__all__ = [
    "EvolveTrace",
    "Evaluation",
    "InterpreterError",
    "evaluate",
    "evaluate_predicate",
    "evaluate_value",
    "evaluate_with_trace",
    "observables",
]

ARITHMETIC = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "truediv": np.true_divide,
    "pow": np.power,
}
NARY = frozenset({"add", "mul"})
PRODUCTS: dict[str, Callable[[Value, Value], Value]] = {
    "outer": interp_fieldops.outer,
    "dot": interp_fieldops.dot,
    "cross": interp_fieldops.cross,
}
LEAVES = frozenset({"num", "bool", "str", "ref", "empty", "attr"})
PREDICATE_OPS = frozenset(
    {"lt", "le", "gt", "ge", "eq", "ne", "approx", "and", "or", "implies", "iff", "not"}
)


@dataclass(frozen=True, slots=True)
class EvolveTrace:
    """Convergence record of a top-level ``evolve``: step_norms[k] = ‖x_{k+1} − x_k‖ (grid measure)."""

    steps: int
    step_norms: tuple[float, ...]

    @property
    def last_step_norm(self) -> float | None:
        """‖x_n − x_{n−1}‖ of the final step; None when no step ran."""
        return self.step_norms[-1] if self.step_norms else None

    def converged(self, eps: float) -> bool:
        """True when the last step moved the value by less than ``eps`` (a fixed-point attractor)."""
        last = self.last_step_norm
        return last is not None and bool(np.isfinite(last)) and last < eps


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A result (public form), its field layout (None for non-fields) and the evolve trace if any."""

    value: Any
    layout: Layout | None
    evolve: EvolveTrace | None


class _Evaluator:
    def __init__(
        self, grid: GridSpec, bindings: Mapping[str, object], seed: int, data_dir: str | None
    ) -> None:
        self.grid = grid
        self.bindings = bindings
        self.ctx = interp_calls.Context(grid, seed, data_dir)
        self.scopes: list[tuple[str, Value]] = []
        self.cache: dict[Node, Value] = {}
        self.closed: dict[int, bool] = {}
        self.coordinates: dict[str, Field] = {}
        self.evolve_vars: frozenset[str] = frozenset()
        self.root: Node | None = None
        self.trace: EvolveTrace | None = None

    def run(self, root: Node) -> Value:
        self.root = root
        self.evolve_vars = frozenset(str(n.value) for n in root.walk() if n.op == "evolve")
        return self.evaluate(root)

    def is_closed(self, node: Node) -> bool:
        """No reference to an evolve variable inside: the value is the same wherever it is evaluated."""
        known = self.closed.get(id(node))
        if known is None:
            children = (*node.args, *(v for _, v in node.kw))
            known = not (node.op == "ref" and node.value in self.evolve_vars) and all(
                self.is_closed(c) for c in children
            )
            self.closed[id(node)] = known
        return known

    def evaluate(self, node: Node) -> Value:
        if node.op in LEAVES or not self.is_closed(node):
            return self.dispatch(node)
        cached = self.cache.get(node)
        if cached is None:
            cached = self.dispatch(node)
            self.cache[node] = cached
        return cached

    def dispatch(self, node: Node) -> Value:
        op = node.op
        if op == "num":
            return _scalar(node)
        if op == "bool":
            return bool(node.value)
        if op == "str":
            return str(node.value)
        if op == "ref":
            return self.lookup(str(node.value))
        if op == "attr":
            return self.attribute(str(node.value))
        if op == "empty":
            return Field(np.zeros(self.grid.shape), empty=True)
        if op == "tuple":
            return tuple(self.evaluate(a) for a in node.args)
        if op in ARITHMETIC:
            return self.arithmetic(node)
        if op == "neg":
            value = self.evaluate(_only(node))
            return (not value) if isinstance(value, bool) else elementwise("neg", np.negative, [value])
        if op in interp_fieldops.DIFFERENTIAL_OPS:
            return interp_fieldops.differential(op, self.evaluate(_only(node)), self.grid)
        if op == "delay":
            return interp_fieldops.delay(*self.operands(node, 2))
        if op in PRODUCTS:
            return PRODUCTS[op](*self.operands(node, 2))
        if op in ("oplus", "ominus"):
            return interp_fieldops.superpose(op, [self.evaluate(a) for a in node.args], self.grid)
        if op == "call":
            args = [self.evaluate(a) for a in node.args]
            kwargs = {k: self.evaluate(v) for k, v in node.kw}
            return interp_calls.call(str(node.value), self.ctx, args, kwargs)
        if op == "evolve":
            return self.evolve(node)
        if op in PREDICATE_OPS:
            return predicate(op, node, self.evaluate)
        raise InterpreterError(op, "unknown operator")

    def operands(self, node: Node, count: int) -> list[Value]:
        if len(node.args) != count:
            raise InterpreterError(node.op, f"takes {count} operands, got {len(node.args)}")
        return [self.evaluate(a) for a in node.args]

    def arithmetic(self, node: Node) -> Value:
        fn = ARITHMETIC[node.op]
        if node.op not in NARY and len(node.args) != 2:
            raise InterpreterError(node.op, f"takes 2 operands, got {len(node.args)}")
        if not node.args:
            raise InterpreterError(node.op, "needs at least one operand")
        values = [self.evaluate(a) for a in node.args]
        return elementwise(node.op, lambda *xs: functools.reduce(fn, xs), values)

    def lookup(self, name: str) -> Value:
        for bound, value in reversed(self.scopes):
            if bound == name:
                return value
        if name in self.bindings:
            return to_value(self.bindings[name], self.grid, name)
        if name == "pi":
            return float(np.pi)
        if name in BUILTIN_NAMES:
            if name not in self.coordinates:  # leaves are not cached by evaluate(); evolve bodies reuse these
                self.coordinates[name] = coordinate(name, self.grid)
            return self.coordinates[name]
        if name in OBSERVABLES:
            raise InterpreterError(
                name, "is an observable of the cell's value; bind it (evaluate_predicate does)"
            )
        raise InterpreterError("ref", f"unknown name {name!r}")

    def attribute(self, path: str) -> Value:
        """``score.qscore``: a binding under the full dotted key, else a walk through nested mappings."""
        if path in self.bindings:
            return to_value(self.bindings[path], self.grid, path)
        current: object = self.bindings
        for part in path.split("."):
            if not isinstance(current, Mapping) or part not in current:
                raise InterpreterError("attr", f"no field {path!r} in the bindings")
            current = current[part]
        return to_value(current, self.grid, path)

    def evolve(self, node: Node) -> Value:
        """``⟲n x ← body``: x starts at init and is rebound to body n times."""
        if len(node.args) != 3:
            raise InterpreterError("evolve", f"takes (n, init, body), got {len(node.args)} operands")
        steps = require_int("evolve", self.evaluate(node.args[0]))
        if steps < 0:
            raise InterpreterError("evolve", f"step count must be non-negative, got {steps}")
        name = str(node.value)
        current = self.evaluate(node.args[1])
        tracing = node is self.root
        norms: list[float] = []
        for _ in range(steps):
            self.scopes.append((name, current))
            try:
                following = self.evaluate(node.args[2])
            finally:
                self.scopes.pop()
            _check_same_kind(current, following)
            if tracing:
                norms.append(_step_norm(current, following, self.grid))
            current = following
        if tracing:
            self.trace = EvolveTrace(steps, tuple(norms))
        return current


def _scalar(node: Node) -> float:
    if isinstance(node.value, bool) or not isinstance(node.value, int | float):
        raise InterpreterError("num", f"literal {node.value!r} is not a number")
    return float(node.value)


def _only(node: Node) -> Node:
    if len(node.args) != 1:
        raise InterpreterError(node.op, f"takes 1 operand, got {len(node.args)}")
    return node.args[0]


def _check_same_kind(before: Value, after: Value) -> None:
    if isinstance(before, Field) and isinstance(after, Field):
        if before.empty or after.empty or before.layout == after.layout:
            return
        raise InterpreterError("evolve", f"body turns a {describe(before)} into a {describe(after)}")
    if isinstance(before, Field) != isinstance(after, Field):
        raise InterpreterError("evolve", f"body turns a {describe(before)} into a {describe(after)}")


def _step_norm(before: Value, after: Value, grid: GridSpec) -> float:
    if isinstance(before, Field) or isinstance(after, Field):
        diff = elementwise("evolve", np.subtract, [after, before])
        data = require_field("evolve", diff).data
        return float(np.sqrt(np.sum(np.abs(data) ** 2) * grid.spacing**grid.rank))
    if isinstance(before, bool) or isinstance(after, bool):
        return 0.0 if before == after else 1.0
    if isinstance(before, float | complex) and isinstance(after, float | complex):
        return float(abs(after - before))
    raise InterpreterError("evolve", f"cannot measure a step of a {describe(after)}")


def evaluate_value(
    node: Node,
    grid: GridSpec,
    bindings: Mapping[str, object] | None = None,
    *,
    seed: int = 0,
    data_dir: str | None = None,
) -> tuple[Value, EvolveTrace | None]:
    """Evaluate to the internal value (a ``Field`` keeps its layout) plus the top-level evolve trace."""
    evaluator = _Evaluator(grid, bindings or {}, seed, data_dir)
    with np.errstate(all="ignore"):
        value = evaluator.run(node)
    return value, evaluator.trace


def evaluate(
    node: Node,
    grid: GridSpec,
    bindings: Mapping[str, object] | None = None,
    *,
    seed: int = 0,
    data_dir: str | None = None,
) -> Any:
    """Value of ``node`` on ``grid``: numpy array, float/complex, bool, or sample indices (module doc)."""
    value, _ = evaluate_value(node, grid, bindings, seed=seed, data_dir=data_dir)
    return output(value)


def evaluate_with_trace(
    node: Node,
    grid: GridSpec,
    bindings: Mapping[str, object] | None = None,
    *,
    seed: int = 0,
    data_dir: str | None = None,
) -> Evaluation:
    """Like ``evaluate``, plus the layout and, when ``node`` is an evolve, its step norms."""
    value, trace = evaluate_value(node, grid, bindings, seed=seed, data_dir=data_dir)
    layout = value.layout if isinstance(value, Field) else None
    return Evaluation(output(value), layout, trace)


def evaluate_predicate(
    predicate_node: Node,
    grid: GridSpec,
    subject: object,
    bindings: Mapping[str, object] | None = None,
    *,
    seed: int = 0,
    data_dir: str | None = None,
) -> bool:
    """Truth of a goal predicate about ``subject`` (the cell's value): its observables are bound by
    name (``energy < energy(u)``), explicit ``bindings`` take precedence."""
    subject_value = to_value(subject, grid, "subject")
    names: dict[str, object] = {**observables(subject_value, grid), **(bindings or {})}
    result = evaluate(predicate_node, grid, names, seed=seed, data_dir=data_dir)
    if not isinstance(result, bool):
        raise InterpreterError("predicate", f"evaluates to a {describe(result)}, not a bool")
    return result
