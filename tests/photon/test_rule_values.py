"""Every rule of the catalogue fires on an example and preserves its value.

For each rule there is an example expression on which it fires; every step of
that rule in the trace is checked on its own by the verifier: the subtree before
and after, evaluated by the reference interpreter on random smooth inputs, agree
within the rule's tolerance (exact rules to rounding).
"""

from __future__ import annotations

import pytest

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.context import RewriteContext
from stages.photon.engine import Rewriter, Step
from stages.photon.rules import RULES, RULES_BY_NAME
from stages.photon.verify import verify

from .helpers import GRID2, GRID3, GRID_T, expr

# rule name -> (example source, grid). Sources use u v w (scalar fields), A B (gradient vector
# fields), C D (vector fields with non-zero curl), ut vt (time-dependent fields).
EXAMPLES: dict[str, tuple[str, GridSpec]] = {
    "fold_pi": ("2 * pi * u", GRID2),
    "fold_constants": ("(2 + 3) * u", GRID2),
    "sub_as_add_neg": ("u - v", GRID2),
    "neg_neg": ("¬¬u", GRID2),
    "not_not": ("not not (norm(u) < 1)", GRID2),
    "neg_empty": ("u + ¬∅", GRID2),
    "neg_into_coefficient": ("¬(2 * u) + v", GRID2),
    "neg_distribute": ("¬(u + v) * w", GRID2),
    "flatten_add": ("(u + v) + w", GRID2),
    "add_zero": ("u + 0", GRID2),
    "add_empty": ("u + ∅", GRID2),
    "collect_like_terms": ("2 * u + 3 * u - v + v", GRID2),
    "sort_add": ("w + v + u", GRID2),
    "add_single": ("__unary_add__", GRID2),
    "flatten_mul": ("(u * v) * w", GRID2),
    "mul_empty": ("u * ∅ + v", GRID2),
    "mul_zero": ("u * 0 + v", GRID2),
    "distribute_mul_over_add": ("u * (v + w)", GRID2),
    "neg_factor_out": ("¬u * ¬v * w", GRID2),
    "fold_coefficients": ("2 * u * 3", GRID2),
    "mul_one": ("u * 1", GRID2),
    "mul_minus_one": ("-1 * u * v", GRID2),
    "merge_powers": ("u * v * u", GRID2),
    "mul_constant_field": ("u * (v - v + 2)", GRID2),
    "sort_mul": ("w * v * u", GRID2),
    "mul_single": ("__unary_mul__", GRID2),
    "div_by_constant": ("u / 4", GRID2),
    "pow_one": ("u ^ 1 + v", GRID2),
    "pow_empty": ("∅ ^ 2 + u", GRID2),
    "pow_pow": ("(u ^ 2) ^ 3", GRID2),
    "pow_constant_field": ("(v - v + 3) ^ 2 + u", GRID2),
    "expand_power": ("(u + v) ^ 2", GRID2),
    "ominus_self": ("u ⊖ u", GRID2),
    "ominus_as_oplus": ("u ⊖ v", GRID2),
    "oplus_empty": ("(u ⊕ v) ⊕ ∅", GRID2),
    "oplus_collect": ("u ⊕ u", GRID2),
    "sort_oplus": ("u ⊕ w", GRID2),
    "structural_of_empty": ("∇∅ + A", GRID2),
    "div_grad_to_lap": ("∇·∇u", GRID2),
    "curl_grad_zero": ("∇×∇u", GRID2),
    "div_curl_zero": ("∇·(∇×(C + D * 2))", GRID3),
    "linear_grad": ("∇(2 * u + 3 * v)", GRID2),
    "linear_div": ("∇·(C + 2 * D)", GRID2),
    "linear_curl": ("∇×(C - D)", GRID3),
    "linear_lap": ("Δ(u - 3 * v)", GRID2),
    "linear_dalembert": ("□(ut + 2 * vt)", GRID_T),
    "linear_ddt": ("d/dt (ut - vt)", GRID_T),
    "linear_delay": ("⧖2 (ut + vt)", GRID_T),
    "product_rule": ("∇(u * v)", GRID2),
    "outer_number_as_mul": ("2 ⊗ u", GRID2),
    "distribute_bilinear": ("(A + B) ⊗ A", GRID2),
    "bilinear_scale": ("(2 * C) • (3 * D)", GRID2),
    "sort_dot": ("B • A", GRID2),
    "sort_cross": ("C × D", GRID3),
    "factor_linear": ("2 * ∇u + 3 * ∇v", GRID2),
    "factor_bilinear": ("A ⊗ B + A ⊗ A", GRID2),
    "factor_common": ("u * v + u * w", GRID2),
    "factor_numeric": ("2 * u + 2 * v", GRID2),
    "subtract_negatives": ("u - v", GRID2),
    "ominus_from_oplus": ("u ⊖ v", GRID2),
    "pow_as_product": ("x ^ 2 + u", GRID2),
}

GROUPS_FOR = {
    "core": frozenset({"core"}),
    "expand": frozenset({"core", "expand"}),
    "product_rule": frozenset({"core", "expand", "product_rule"}),
}


def example(name: str) -> tuple[Node, GridSpec]:
    source, grid = EXAMPLES[name]
    if source == "__unary_add__":
        return Node("add", args=(expr("u"),)), grid
    if source == "__unary_mul__":
        return Node("mul", args=(expr("u"),)), grid
    return expr(source), grid


def steps_of(name: str) -> list[tuple[Step, GridSpec]]:
    node, grid = example(name)
    rule = RULES_BY_NAME[name]
    base = RewriteContext.for_expression(node, grid)
    if rule.group == "factor":
        canonical = Rewriter(base.with_groups(GROUPS_FOR["expand"])).run(node)
        rewriter = Rewriter(base.with_groups(frozenset({"factor"})))
        rewriter.run(canonical)
    else:
        rewriter = Rewriter(base.with_groups(GROUPS_FOR[rule.group]))
        rewriter.run(node)
    return [(step, grid) for step in rewriter.steps if step.rule == name]


def test_every_rule_has_an_example() -> None:
    assert set(EXAMPLES) == {rule.name for rule in RULES}


@pytest.mark.parametrize("name", [rule.name for rule in RULES])
def test_rule_fires_and_preserves_value(name: str) -> None:
    found = steps_of(name)
    assert found, f"{name} did not fire on its example"
    for step, grid in found:
        check = verify(step.before, step.after, grid, [step], k=4)
        assert check.ok, (name, check.to_json())


@pytest.mark.parametrize("grid", [GRID2, GRID3], ids=["2d", "3d"])
def test_curl_examples_would_catch_a_wrong_curl_rule(grid: GridSpec) -> None:
    """On curl-free inputs ∇×(A − B) and a wrong ∇×A + ∇×B are both ≈0 and pass; on C, D they must not."""
    def curl(name: str) -> Node:
        return Node("curl", args=(expr(name),))

    for a, b, caught in (("A", "B", False), ("C", "D", True)):
        right = Node("add", args=(curl(a), Node("neg", args=(curl(b),))))
        wrong = Node("add", args=(curl(a), curl(b)))
        before = Node("curl", args=(Node("add", args=(expr(a), Node("neg", args=(expr(b),)))),))
        step = Step("linear_curl", before, wrong)
        assert verify(before, right, grid, [Step("linear_curl", before, right)], k=4).ok
        assert verify(before, wrong, grid, [step], k=4).ok is not caught, (a, b)
