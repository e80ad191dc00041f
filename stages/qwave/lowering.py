"""Lowering a program structure to JAX operations: the reference interpreter, traced.

This walks the tree exactly like ``stages/codex/interpreter.py`` (same operand
checks, same layout rules, same ∅ handling, same kernels from
``stages.codex.operators`` with ``xp = jax.numpy``), so the compiled function
computes the reference formulas by construction. The differences are the ones
tracing forces: numbers computed from fields are 0-d arrays, ``evolve`` is a
``lax.fori_loop`` (its first step unrolled, so ∅ or real initial states may turn
into the body's layout and dtype), every operator result is stored in the
precision plan's format, and a check that depends on array values cannot raise.
Shape and type errors surface as ``InterpreterError`` while tracing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stages.codex import operators as ops
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.codex.interp_calls import POINTWISE
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field, Layout
from stages.codex.interpreter import ARITHMETIC, NARY, PREDICATE_OPS
from stages.qwave import jvalues as jv
from stages.qwave.formats import PrecisionPlan, to_format
from stages.qwave.jvalues import JValue, Scalar, Truth
from stages.qwave.lowering_fields import FieldOps

LEAVES = frozenset({"num", "bool", "str", "ref", "empty", "attr", "tuple"})
ORDERINGS = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal"}
CONNECTIVES = {"and": "logical_and", "or": "logical_or", "iff": "equal"}


class Lowering:
    """Trace one structure: ``run(root)`` returns its value; ``last_step`` the root evolve's last step size."""

    def __init__(self, grid: GridSpec, plan: PrecisionPlan, bindings: Mapping[str, JValue]) -> None:
        import jax.numpy as jnp

        self.jnp: Any = jnp
        self.grid = grid
        self.plan = plan
        self.bindings = bindings
        self.fields = FieldOps(grid)
        self.scopes: list[tuple[str, JValue]] = []
        self.memos: list[dict[Node, JValue]] = [{}]
        self.closed: dict[int, bool] = {}
        self.evolve_vars: frozenset[str] = frozenset()
        self.root: Node | None = None
        self.last_step: Any = None

    def run(self, root: Node) -> JValue:
        self.root = root
        self.evolve_vars = frozenset(str(n.value) for n in root.walk() if n.op == "evolve")
        return self.evaluate(root)

    def is_closed(self, node: Node) -> bool:
        known = self.closed.get(id(node))
        if known is None:
            children = (*node.args, *(v for _, v in node.kw))
            known = not (node.op == "ref" and node.value in self.evolve_vars) and all(
                self.is_closed(c) for c in children
            )
            self.closed[id(node)] = known
        return known

    def evaluate(self, node: Node) -> JValue:
        """Evaluate with sharing of closed subtrees; a loop body's memo lives only inside that loop's trace."""
        if node.op in LEAVES or not self.is_closed(node):
            return self.dispatch(node)
        for memo in reversed(self.memos):
            if node in memo:
                return memo[node]
        value = self.dispatch(node)
        self.memos[-1][node] = value
        return value

    def dispatch(self, node: Node) -> JValue:
        op = node.op
        if op == "num":
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise InterpreterError("num", f"literal {node.value!r} is not a number")
            return Scalar(float(node.value))
        if op == "bool":
            return Truth(bool(node.value))
        if op == "str":
            return str(node.value)
        if op == "ref":
            return self.lookup(str(node.value))
        if op == "empty":
            return Field(self.jnp.zeros(self.grid.shape, self.jnp.float32), empty=True)
        if op == "tuple":
            return tuple(self.evaluate(a) for a in node.args)
        if op == "attr":
            raise InterpreterError("attr", "event field access exists only in policies, not in cells")
        if op == "evolve":
            return self.evolve(node)
        if op in PREDICATE_OPS:
            return self.predicate(node)
        return self.store(opcode(node), self.operator(node))

    def operator(self, node: Node) -> JValue:
        op = node.op
        if op in ARITHMETIC:
            if op not in NARY and len(node.args) != 2:
                raise InterpreterError(op, f"takes 2 operands, got {len(node.args)}")
            if not node.args:
                raise InterpreterError(op, "needs at least one operand")
            return jv.reduce_elementwise(op, ARITHMETIC[op], [self.evaluate(a) for a in node.args])
        if op == "neg":
            value = self.evaluate(only(node))
            if isinstance(value, Truth):
                return Truth(not value.data) if value.static else Truth(self.jnp.logical_not(value.data))
            return jv.elementwise("neg", np.negative, [value])
        if op in ("grad", "div", "curl", "lap", "dalembert", "ddt"):
            return self.fields.differential(op, self.evaluate(only(node)))
        if op == "delay":
            field, steps = self.operands(node, 2)
            return self.fields.delay(field, jv.static_int("delay", steps))
        if op in ("outer", "dot", "cross"):
            left, right = self.operands(node, 2)
            return getattr(self.fields, op)(left, right)  # type: ignore[no-any-return]
        if op in ("oplus", "ominus"):
            return self.fields.superpose(op, [self.evaluate(a) for a in node.args])
        if op == "call":
            return self.call(str(node.value), [self.evaluate(a) for a in node.args],
                             {k: self.evaluate(v) for k, v in node.kw})
        raise InterpreterError(op, "unknown operator")

    def operands(self, node: Node, count: int) -> list[JValue]:
        if len(node.args) != count:
            raise InterpreterError(node.op, f"takes {count} operands, got {len(node.args)}")
        return [self.evaluate(a) for a in node.args]

    def store(self, op: str, value: JValue) -> JValue:
        """Keep an operator's result in the format the precision plan gives that opcode."""
        fmt = self.plan.for_op(op)
        if fmt == "fp32":
            return value
        if isinstance(value, Field):
            return Field(to_format(value.data, fmt), value.layout, value.empty)
        if isinstance(value, Scalar) and not value.static:
            return Scalar(to_format(value.data, fmt))
        return value

    def lookup(self, name: str) -> JValue:
        for bound, value in reversed(self.scopes):
            if bound == name:
                return value
        if name in self.bindings:
            return self.bindings[name]
        raise InterpreterError("ref", f"unbound name {name!r} (QWave receives Codex-expanded normal forms)")

    def call(self, name: str, args: list[JValue], kwargs: dict[str, JValue]) -> JValue:
        if name in ops.REDUCTIONS:
            arity(name, args, kwargs, 1, frozenset())
            field = jv.require_field(name, args[0])
            result = ops.REDUCTIONS[name](field.data, self.grid.spacing, self.grid.rank, self.jnp)
            return Truth(result) if name == "finite" else Scalar(result)
        if name in POINTWISE:
            arity(name, args, kwargs, 1, frozenset())
            return jv.elementwise(name, POINTWISE[name], args)
        if name == "interfere":
            arity(name, args, kwargs, len(args), frozenset({"weights", "phases"}))
            return self.fields.interfere(
                args,
                jv.static_numbers(name, kwargs["weights"]) if "weights" in kwargs else None,
                jv.static_numbers(name, kwargs["phases"]) if "phases" in kwargs else None,
            )
        if name == "sample":
            raise InterpreterError("sample", "QWave runs sample(ψ, n) only as the outermost operation of a cell")
        raise InterpreterError(name, "unknown function")

    def predicate(self, node: Node) -> Truth:
        op, jnp = node.op, self.jnp
        expected = 1 if op == "not" else 3 if op == "approx" else 2
        if len(node.args) != expected:
            raise InterpreterError(op, f"takes {expected} operands, got {len(node.args)}")
        values = [self.evaluate(a) for a in node.args]
        if op in ORDERINGS:
            a, b = (jv.real_number(op, v) for v in values)
            return Truth(getattr(np, ORDERINGS[op])(a, b).item() if isinstance(a, float) and isinstance(b, float)
                         else getattr(jnp, ORDERINGS[op])(a, b))
        if op in ("eq", "ne"):
            same = self.equal(op, values[0], values[1])
            return same if op == "eq" else negate(same)
        if op == "approx":
            x, v, tol = (numeric_data(op, val) for val in values)
            return Truth(jnp.abs(x - v) <= jnp.real(tol))
        parts = [jv.truth(op, v) for v in values]
        if op == "not":
            return negate(parts[0])
        a, b = parts
        if op == "implies":
            a = negate(a)
            op = "or"
        if a.static and b.static:
            return Truth({"and": a.data and b.data, "or": a.data or b.data, "iff": a.data == b.data}[op])
        return Truth(getattr(jnp, CONNECTIVES[op])(a.data, b.data))

    def equal(self, op: str, a: JValue, b: JValue) -> Truth:
        if isinstance(a, Truth | str) or isinstance(b, Truth | str):
            if type(a) is not type(b):
                raise InterpreterError(op, f"cannot compare a {jv.describe(a)} with a {jv.describe(b)}")
            if isinstance(a, str) or isinstance(b, str):
                return Truth(a == b)
            assert isinstance(a, Truth) and isinstance(b, Truth)
            return Truth(a.data == b.data if a.static and b.static else self.jnp.equal(a.data, b.data))
        return Truth(self.jnp.equal(numeric_data(op, a), numeric_data(op, b)))

    def evolve(self, node: Node) -> JValue:
        from stages.qwave.lowering_evolve import run_evolve

        return run_evolve(self, node)


def opcode(node: Node) -> str:
    """The name precision profiles and plans use: the function name for calls, else ``op``."""
    return str(node.value) if node.op == "call" else node.op


def only(node: Node) -> Node:
    if len(node.args) != 1:
        raise InterpreterError(node.op, f"takes 1 operand, got {len(node.args)}")
    return node.args[0]


def arity(name: str, args: list[JValue], kwargs: dict[str, JValue], count: int, allowed: frozenset[str]) -> None:
    if len(args) != count:
        raise InterpreterError(name, f"takes {count} positional argument(s), got {len(args)}")
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InterpreterError(name, f"unknown keyword argument(s) {unknown}")


def negate(value: Truth) -> Truth:
    if value.static:
        return Truth(not value.data)
    import jax.numpy as jnp

    return Truth(jnp.logical_not(value.data))


def numeric_data(op: str, value: JValue) -> Any:
    if not isinstance(value, Scalar):
        raise InterpreterError(op, f"expects a number, got a {jv.describe(value)}")
    return value.data


__all__ = ["Layout", "Lowering", "opcode"]
