"""Predicates (goals, SoulLaw conditions) and the observables a predicate talks about.

Comparisons take numbers (``<`` ``<=`` ``>`` ``>=`` need real ones; a complex
number with zero imaginary part counts as real); ``=``/``≠`` also compare bools
and strings. ``x ≈ v ± tol`` is |x − v| ≤ tol. Connectives take bools. A field
operand is an error: compare an observable of it instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stages.codex import operators as ops
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field, Value, describe, require_number, require_real

ORDERINGS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _bool(op: str, value: Value) -> bool:
    if not isinstance(value, bool):
        raise InterpreterError(op, f"expects a truth value, got a {describe(value)}")
    return value


def _equal(op: str, a: Value, b: Value) -> bool:
    if isinstance(a, bool | str) or isinstance(b, bool | str):
        if type(a) is not type(b):
            raise InterpreterError(op, f"cannot compare a {describe(a)} with a {describe(b)}")
        return a == b
    return require_number(op, a) == require_number(op, b)


def predicate(op: str, node: Node, evaluate: Callable[[Node], Value]) -> bool:
    """Truth value of a comparison / connective node; ``evaluate`` evaluates its operands."""
    expected = 1 if op == "not" else 3 if op == "approx" else 2
    if len(node.args) != expected:
        raise InterpreterError(op, f"takes {expected} operands, got {len(node.args)}")
    if op in ORDERINGS:
        a, b = (require_real(op, evaluate(arg)) for arg in node.args)
        return ORDERINGS[op](a, b)
    if op in ("eq", "ne"):
        same = _equal(op, evaluate(node.args[0]), evaluate(node.args[1]))
        return same if op == "eq" else not same
    if op == "approx":
        x, v, tol = (require_number(op, evaluate(arg)) for arg in node.args)
        return bool(abs(x - v) <= float(np.real(tol)))
    if op == "not":
        return not _bool(op, evaluate(node.args[0]))
    # Connectives evaluate both sides: predicates have no side effects, and a bad
    # operand should be reported even when the other side already decides.
    a, b = (_bool(op, evaluate(arg)) for arg in node.args)
    if op == "and":
        return a and b
    if op == "or":
        return a or b
    if op == "implies":
        return (not a) or b
    if op == "iff":
        return a == b
    raise InterpreterError(op, "is not a predicate operator")


def observables(value: object, grid: GridSpec) -> dict[str, float | bool]:
    """norm, energy, mean, min, max, entropy, finite of a value (JSON-ready floats and a bool).

    Fields use the grid measure (``operators``). For complex fields ``mean``,
    ``min`` and ``max`` are of the real part. A number v counts as a one-point
    field without measure: norm |v|, energy ½|v|², mean/min/max Re v, entropy 0.
    """
    if isinstance(value, np.ndarray):
        value = Field(value)
    if isinstance(value, Field):
        data, h, rank = value.data, grid.spacing, grid.rank
        with np.errstate(all="ignore"):  # non-finite fields give NaN observables, not warnings
            return {
                "norm": float(ops.norm(data, h, rank, np)),
                "energy": float(ops.energy(data, h, rank, np)),
                "mean": float(np.real(ops.mean(data, np))),
                "min": float(ops.minimum(data, np)),
                "max": float(ops.maximum(data, np)),
                "entropy": float(ops.entropy(data, np)),
                "finite": bool(ops.finite(data, np)),
            }
    if isinstance(value, bool) or not isinstance(value, int | float | complex):
        raise InterpreterError("observables", f"a {describe(value)} has no observables")
    magnitude, real = abs(value), float(np.real(value))
    return {
        "norm": float(magnitude),
        "energy": 0.5 * float(magnitude) ** 2,
        "mean": real,
        "min": real,
        "max": real,
        "entropy": 0.0,
        "finite": bool(np.isfinite(value)),
    }
