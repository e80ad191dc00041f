"""The rule traces of the identities the spec names, and what the cost-guided choice keeps."""

from __future__ import annotations

from stages.codex.ast import EMPTY, Node
from stages.photon.engine import Step
from stages.photon.normalize import RewriteOutcome, normalize

from .helpers import GRID2, GRID3, GRID_DIRICHLET, expr


def steps_named(outcome: RewriteOutcome, rule: str) -> list[Step]:
    return [s for s in outcome.steps if s.rule == rule]


def test_div_grad_becomes_the_laplacian() -> None:
    outcome = normalize(expr("∇·∇u"), GRID2)
    assert outcome.normal_form == expr("Δu")
    (step,) = steps_named(outcome, "div_grad_to_lap")
    assert (step.before, step.after) == (expr("∇·∇u"), expr("Δu"))


def test_div_grad_is_left_alone_on_a_dirichlet_grid() -> None:
    # Zero ghost values make ∇·∇ and Δ differ at the edge by O(1), not O(h²).
    outcome = normalize(expr("∇·∇u"), GRID_DIRICHLET)
    assert outcome.normal_form == expr("∇·∇u")
    assert outcome.steps == ()


def test_curl_of_a_gradient_vanishes_in_2d_and_3d() -> None:
    for grid in (GRID2, GRID3):
        outcome = normalize(expr("∇×∇u"), grid)
        assert outcome.normal_form == EMPTY
        (step,) = steps_named(outcome, "curl_grad_zero")
        assert step.before == expr("∇×∇u") and step.after == EMPTY


def test_superposing_with_empty_keeps_a_unit_result() -> None:
    outcome = normalize(expr("(u ⊕ v) ⊕ ∅"), GRID2)
    assert outcome.normal_form == expr("u ⊕ v") or outcome.normal_form == expr("v ⊕ u")
    (step,) = steps_named(outcome, "oplus_empty")
    assert step.after.op == "oplus" and len(step.after.args) == 2


def test_superposing_a_plain_field_with_empty_still_normalises() -> None:
    # u ⊕ ∅ = u/‖u‖ ≠ u: the ⊕ stays.
    outcome = normalize(expr("u ⊕ ∅"), GRID2)
    assert outcome.normal_form.op == "oplus"
    assert EMPTY in outcome.normal_form.args


def test_a_field_superposed_with_itself_is_normalised_once() -> None:
    outcome = normalize(expr("u ⊕ u"), GRID2)
    assert outcome.normal_form == Node("oplus", args=(EMPTY, expr("u")))
    assert "oplus_collect" in outcome.rule_names


def test_gradient_linearity_is_traced_and_cost_decides_the_form() -> None:
    outcome = normalize(expr("∇(2 * u + 3 * v)"), GRID2, alternatives=True)
    expanded = next(c for c in outcome.candidates if c.name == "expanded")
    (step,) = [s for s in expanded.steps if s.rule == "linear_grad"]
    assert step.before == expr("∇(2 * u + 3 * v)")
    assert step.after == expr("2 * ∇u + 3 * ∇v")
    # One gradient of a scalar sum is cheaper than two gradients and vector arithmetic.
    assert outcome.normal_form == expr("∇(2 * u + 3 * v)")
    assert outcome.candidates[0].flops < expanded.flops


def test_linearity_exposes_a_cancellation() -> None:
    outcome = normalize(expr("∇(2 * u + 3 * v) - 3 * ∇v"), GRID2, alternatives=True)
    assert outcome.normal_form in (expr("∇(2 * u)"), expr("2 * ∇u"))
    assert outcome.cost_after["flops"] < outcome.cost_before["flops"]


def test_product_rule_is_kept_only_where_it_is_cheaper() -> None:
    cheaper = normalize(expr("∇(u * v) - u * ∇v"), GRID2)
    assert cheaper.normal_form == expr("v * ∇u")
    assert "product_rule" in cheaper.rule_names
    plain = normalize(expr("∇(u * v)"), GRID2)
    assert plain.normal_form == expr("∇(u * v)")


def test_distribution_is_kept_only_where_it_is_cheaper() -> None:
    factored = normalize(expr("A ⊗ (A + B)"), GRID2)
    assert factored.normal_form == expr("A ⊗ (A + B)") or factored.normal_form == expr("A ⊗ ∇(u + v)")
    cancelling = normalize(expr("A ⊗ (A + B) - A ⊗ B"), GRID2)
    assert cancelling.normal_form == expr("A ⊗ A")


def test_shared_subtrees_are_recorded() -> None:
    outcome = normalize(expr("Δu * Δu + sin(Δu)"), GRID2)
    assert any(s.node == expr("Δu") and s.count >= 2 for s in outcome.shared)
