"""Compile a CodexLang predicate (a ``Node`` tree) into a strict boolean closure, once.

SoulLaw rules are evaluated many times per second, so each rule's tree is walked
exactly once into nested Python closures; evaluating a rule is then a chain of
plain calls over the decision input. Nothing is ever ``eval``-ed.

Semantics (all documented choices; each one errs towards *denying*):

* ``attr`` (``score.qscore``) reads a dotted path from the input mapping. A path
  that does not exist raises ``MissingField`` — the decision then fails closed.
  A key that itself contains dots (the flag ``stage.sqi``) is found by trying
  the longest matching key first, so ``flags.stage.sqi`` works.
* A bare observable name (``energy``, ``finite`` …) means
  ``beam.observables.<name>``; a bare input root (``identity``, ``score`` …)
  is that part of the input; any other bare name is a policy constant (the
  ``[constants]`` table of the policy file) resolved at compile time — an
  unknown one is a ``RuleCompileError``.
* ``null`` means "not applicable" (``cost.cfl`` of a cell without an evolve,
  ``score.drift`` without a basin): every comparison with a null operand is
  false, so a deny rule about it does not match. Absent (missing) and null are
  different things: absent denies.
* A NaN operand in a comparison raises ``RuleError``: NaN compares false with
  everything, which would silently let a beam through a deny rule.
* Connectives evaluate *both* sides (no short-circuit), so a missing field
  anywhere in a rule is always detected, whatever the other operand's value.
* Truth values must be real booleans; a number where a truth value is needed
  raises ``RuleError`` (no implicit truthiness).
* Arithmetic (``+ - * / ^``, unary ``¬``/neg) and the scalar functions
  ``abs sqrt exp sin cos min max finite`` are allowed on numbers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from stages.codex.ast import OBSERVABLES, Node

Evaluator = Callable[[Mapping[str, Any]], Any]
Predicate = Callable[[Mapping[str, Any]], bool]


class RuleError(Exception):
    """A rule could not be evaluated on this input (the decision fails closed)."""


class MissingField(RuleError):
    """A dotted path named by a rule is absent from the decision input."""


class RuleCompileError(ValueError):
    """A rule's tree uses something a policy cannot express."""


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``data``; ``MissingField`` when any step is absent."""
    parts = path.split(".")
    current: Any = data
    index = 0
    while index < len(parts):
        if not isinstance(current, Mapping):
            raise MissingField(f"missing field {path!r}: {'.'.join(parts[:index])!r} is not a mapping")
        # Longest key first, so keys with dots in them ("stage.sqi") are reachable.
        for end in range(len(parts), index, -1):
            key = ".".join(parts[index:end])
            if key in current:
                current = current[key]
                index = end
                break
        else:
            raise MissingField(f"missing field {path!r}")
    return current


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    result = float(value)
    if math.isnan(result):
        raise RuleError(f"{what} is NaN")
    return result


def _truth(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise RuleError(f"{what} must be true or false, got {type(value).__name__} {value!r}")
    return value


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "pow": operator.pow,
}
_UNARY_FUNCTIONS: dict[str, Callable[[float], Any]] = {
    "abs": abs, "sqrt": math.sqrt, "exp": math.exp, "sin": math.sin, "cos": math.cos,
    "finite": math.isfinite,
}
_CONSTANT_NAMES = {"pi": math.pi}
INPUT_ROOTS = frozenset({"beam", "score", "cost", "flags", "identity"})


class _Compiler:
    def __init__(self, constants: Mapping[str, Any]) -> None:
        self.constants = constants

    def predicate(self, node: Node) -> Predicate:
        value = self.value(node)
        what = _describe(node)

        def evaluate(data: Mapping[str, Any]) -> bool:
            return _truth(value(data), what)

        return evaluate

    def value(self, node: Node) -> Evaluator:
        op = node.op
        if op in ("num", "bool", "str"):
            literal = node.value
            return lambda _data: literal
        if op == "attr":
            path = str(node.value)
            return lambda data: lookup(data, path)
        if op == "ref":
            return self._ref(str(node.value))
        if op in _ORDERINGS or op in ("eq", "ne"):
            return self._comparison(node)
        if op == "approx":
            return self._approx(node)
        if op in ("and", "or", "implies", "iff", "not"):
            return self._connective(node)
        if op in _ARITHMETIC:
            return self._arithmetic(node)
        if op == "neg":
            (inner,) = self._args(node, 1)
            return lambda data: -_number(inner(data), "operand of ¬")
        if op == "call":
            return self._call(node)
        raise RuleCompileError(f"operator {op!r} is not allowed in a policy rule")

    def _args(self, node: Node, count: int) -> list[Evaluator]:
        if len(node.args) != count:
            raise RuleCompileError(f"{node.op} expects {count} operands, got {len(node.args)}")
        return [self.value(arg) for arg in node.args]

    def _ref(self, name: str) -> Evaluator:
        if name in OBSERVABLES:
            path = f"beam.observables.{name}"
            return lambda data: lookup(data, path)
        if name in INPUT_ROOTS:
            return lambda data: lookup(data, name)
        if name in self.constants:
            constant = self.constants[name]
            return lambda _data: constant
        if name in _CONSTANT_NAMES:
            builtin = _CONSTANT_NAMES[name]
            return lambda _data: builtin
        raise RuleCompileError(
            f"unknown name {name!r} (not an observable, an input root or a policy constant)"
        )

    def _comparison(self, node: Node) -> Evaluator:
        left, right = self._args(node, 2)
        op = node.op
        what = _describe(node)

        def compare(data: Mapping[str, Any]) -> bool:
            a, b = left(data), right(data)
            if a is None or b is None:
                return False
            if op in ("eq", "ne"):
                if isinstance(a, str) or isinstance(b, str) or isinstance(a, bool) or isinstance(b, bool):
                    if type(a) is not type(b):
                        raise RuleError(f"{what}: cannot compare {type(a).__name__} with {type(b).__name__}")
                    same: bool = a == b
                    return same if op == "eq" else not same
                x, y = _number(a, f"left of {what}"), _number(b, f"right of {what}")
                return (x == y) if op == "eq" else (x != y)
            return _ORDERINGS[op](_number(a, f"left of {what}"), _number(b, f"right of {what}"))

        return compare

    def _approx(self, node: Node) -> Evaluator:
        subject, centre, tolerance = self._args(node, 3)
        what = _describe(node)

        def within(data: Mapping[str, Any]) -> bool:
            a, v, tol = subject(data), centre(data), tolerance(data)
            if a is None or v is None or tol is None:
                return False
            return abs(_number(a, what) - _number(v, what)) <= _number(tol, what)

        return within

    def _connective(self, node: Node) -> Evaluator:
        op = node.op
        if op == "not":
            (inner,) = self._args(node, 1)
            what = _describe(node.args[0])
            return lambda data: not _truth(inner(data), what)
        left, right = self._args(node, 2)
        left_what, right_what = _describe(node.args[0]), _describe(node.args[1])

        def combine(data: Mapping[str, Any]) -> bool:
            # Both sides always evaluated: a missing field must surface even when
            # the other operand already decides the result.
            a = _truth(left(data), left_what)
            b = _truth(right(data), right_what)
            if op == "and":
                return a and b
            if op == "or":
                return a or b
            if op == "implies":
                return (not a) or b
            return a == b

        return combine

    def _arithmetic(self, node: Node) -> Evaluator:
        left, right = self._args(node, 2)
        function = _ARITHMETIC[node.op]
        what = _describe(node)

        def compute(data: Mapping[str, Any]) -> Any:
            a, b = left(data), right(data)
            if a is None or b is None:
                return None
            try:
                return function(_number(a, what), _number(b, what))
            except (ArithmeticError, ValueError) as exc:
                raise RuleError(f"{what}: {exc}") from None

        return compute

    def _call(self, node: Node) -> Evaluator:
        name = str(node.value)
        if node.kw:
            raise RuleCompileError(f"{name}() takes no keyword arguments in a policy rule")
        if name in ("min", "max") and len(node.args) >= 2:
            operands = [self.value(arg) for arg in node.args]
            pick = min if name == "min" else max
            return lambda data: pick(_number(o(data), f"operand of {name}()") for o in operands)
        if name not in _UNARY_FUNCTIONS:
            raise RuleCompileError(f"function {name}() is not allowed in a policy rule")
        (inner,) = self._args(node, 1)
        function = _UNARY_FUNCTIONS[name]

        def apply(data: Mapping[str, Any]) -> Any:
            value = inner(data)
            if value is None:
                return None
            if name == "finite":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise RuleError(f"operand of finite() must be a number, got {value!r}")
                return math.isfinite(value)
            try:
                return function(_number(value, f"operand of {name}()"))
            except (ArithmeticError, ValueError) as exc:
                raise RuleError(f"{name}(): {exc}") from None

        return apply


def _describe(node: Node) -> str:
    if node.op == "attr":
        return str(node.value)
    if node.op in ("ref", "num", "bool", "str"):
        return repr(node.value)
    if node.op == "call":
        return f"{node.value}(...)"
    return node.op


def compile_predicate(node: Node, constants: Mapping[str, Any] | None = None) -> Predicate:
    """Compile ``node`` (a predicate tree) into a closure ``input -> bool``.

    Raises ``RuleCompileError`` at compile time for unsupported operators or
    unknown names; the closure raises ``RuleError``/``MissingField`` at run time.
    """
    return _Compiler(constants or {}).predicate(node)
