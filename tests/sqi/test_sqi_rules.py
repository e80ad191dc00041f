"""Compiled SoulLaw predicates: strict, null-aware, never eval."""

from __future__ import annotations

import math

import pytest

from stages.codex.ast import Node, call, num, ref
from stages.sqi.rules import MissingField, RuleCompileError, RuleError, compile_predicate, lookup

DATA = {
    "beam": {"observables": {"finite": True, "max": 4.0, "energy": 2.0}},
    "score": {"qscore": 0.3, "drift": None},
    "cost": {"bytes": 1024, "cfl": None},
    "flags": {"stage.sqi": True, "COST_THRESHOLD": 2.0e5},
    "identity": "alice",
}


def attr(path: str) -> Node:
    return Node("attr", value=path)


def node(op: str, *args: Node) -> Node:
    return Node(op, args=args)


def test_dotted_paths_and_keys_with_dots() -> None:
    assert lookup(DATA, "score.qscore") == 0.3
    assert lookup(DATA, "flags.stage.sqi") is True
    with pytest.raises(MissingField, match="score.nope"):
        lookup(DATA, "score.nope")
    with pytest.raises(MissingField):
        lookup(DATA, "score.qscore.deeper")


def test_comparisons_and_connectives() -> None:
    low = compile_predicate(node("lt", attr("score.qscore"), num(0.35)))
    assert low(DATA) is True
    rule = compile_predicate(node("and", node("gt", attr("cost.bytes"), num(100)), node("not", attr("flags.stage.sqi"))))
    assert rule(DATA) is False
    implies = compile_predicate(node("implies", node("gt", ref("max"), num(3)), node("lt", ref("energy"), num(1))))
    assert implies(DATA) is False
    assert compile_predicate(node("iff", Node("bool", value=True), attr("beam.observables.finite")))(DATA) is True
    assert compile_predicate(Node("approx", args=(ref("max"), num(4.1), num(0.2))))(DATA) is True
    assert compile_predicate(node("eq", attr("identity"), Node("str", value="alice")))(DATA) is True


def test_arithmetic_functions_and_constants() -> None:
    rule = compile_predicate(node("gt", attr("cost.bytes"), node("mul", num(2), Node("ref", value="cap"))),
                             {"cap": 256})
    assert rule(DATA) is True
    assert compile_predicate(node("lt", call("abs", node("neg", ref("max"))), num(5)))(DATA) is True
    assert compile_predicate(node("gt", call("max", ref("max"), ref("energy")), num(3.9)))(DATA) is True


def test_null_never_matches_but_missing_raises() -> None:
    assert compile_predicate(node("gt", attr("cost.cfl"), num(1.0)))(DATA) is False
    assert compile_predicate(node("gt", attr("score.drift"), num(2.0)))(DATA) is False
    with pytest.raises(MissingField):
        compile_predicate(node("gt", attr("cost.cfl_number"), num(1.0)))(DATA)


def test_no_short_circuit_hides_a_missing_field() -> None:
    # The left side is already false, the right side names a missing field: still an error.
    rule = compile_predicate(node("and", Node("bool", value=False), node("gt", attr("cost.nothing"), num(1))))
    with pytest.raises(MissingField):
        rule(DATA)


def test_nan_and_type_errors_raise() -> None:
    with pytest.raises(RuleError, match="NaN"):
        compile_predicate(node("lt", attr("score.qscore"), num(0.35)))({**DATA, "score": {"qscore": math.nan}})
    with pytest.raises(RuleError, match="true or false"):
        compile_predicate(attr("cost.bytes"))(DATA)
    with pytest.raises(RuleError):
        compile_predicate(node("lt", attr("identity"), num(1)))(DATA)


def test_compile_errors() -> None:
    with pytest.raises(RuleCompileError, match="unknown name"):
        compile_predicate(node("lt", Node("ref", value="u"), num(1)))
    with pytest.raises(RuleCompileError, match="not allowed"):
        compile_predicate(node("lt", node("lap", ref("max")), num(1)))
    with pytest.raises(RuleCompileError, match="not allowed"):
        compile_predicate(node("lt", call("gaussian", num(1)), num(1)))
