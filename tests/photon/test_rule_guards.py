"""Operand guards (``Rule.operand_ops``) are necessary conditions: a rule they skip would have declined.

The engine does not call a guarded rule on a node none of whose operands has one
of the guard's operators. That is only a speed-up if the rule would have returned
None there anyway; this checks it on every subtree of random expressions and of
the intermediate forms their normalisation passes through.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from stages.codex.ast import Node
from stages.photon.context import RewriteContext
from stages.photon.normalize import normalize
from stages.photon.rules import RULES, applies_to

from .exprgen import fields
from .helpers import GRID2, expr

ALL_GROUPS = frozenset(rule.group for rule in RULES)
GUARDED = [rule for rule in RULES if rule.operand_ops]


def subtrees(node: Node) -> list[Node]:
    """Every subtree of ``node`` and of the before/after forms of each step of its normalisation."""
    forms = [node]
    for step in normalize(node, GRID2).steps:
        forms += [step.before, step.after]
    return [sub for form in forms for sub in form.walk()]


def skipped_but_firing(node: Node) -> list[tuple[str, Node]]:
    ctx = RewriteContext.for_expression(node, GRID2).with_groups(ALL_GROUPS)
    wrong = []
    for sub in subtrees(node):
        operand_ops = {a.op for a in sub.args}
        for rule in GUARDED:
            if applies_to(rule, sub.op) and rule.operand_ops.isdisjoint(operand_ops):
                if rule.apply(sub, ctx) is not None:
                    wrong.append((rule.name, sub))
    return wrong


def test_some_rules_are_guarded() -> None:
    assert {"flatten_mul", "mul_one", "fold_constants", "distribute_mul_over_add"} <= {r.name for r in GUARDED}


def test_guards_hold_on_the_rule_examples() -> None:
    for source in ("u * 1 + v * 0", "(u * v) * w * 2 * 3", "¬u * (v + w) * ∅", "(2 + 3) * u - ¬(4 * v)",
                   "u * (v - v + 2) + (w + 0)"):
        assert skipped_but_firing(expr(source)) == [], source


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields())
def test_guards_only_skip_rules_that_would_decline(node: Node) -> None:
    assert skipped_but_firing(node) == []
