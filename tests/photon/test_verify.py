"""Verification: k random smooth inputs, per-rule tolerances, failures kept, results cached."""

from __future__ import annotations

import numpy as np

from stages.codex.ast import EMPTY, Node
from stages.photon.engine import Step
from stages.photon.normalize import normalize
from stages.photon.rules import RULES_BY_NAME
from stages.photon.verify import (
    VerificationCache,
    compare_values,
    max_wavenumber,
    tolerance_for,
    verification_grid,
    verify,
)

from .helpers import GRID2, expr

BIG = GRID2.__class__(shape=(256, 256), spacing=1.0 / 256)


def test_a_correct_rewrite_passes_every_trial() -> None:
    outcome = normalize(expr("u * v + u * w"), GRID2)
    check = verify(outcome.original, outcome.normal_form, GRID2, outcome.steps)
    assert check.ok and check.passes == check.k == 8
    assert check.success_prob == (8 + 1) / (8 + 2)


def test_a_wrong_rewrite_fails_and_names_the_rule() -> None:
    # A deliberately wrong "rule" step: Δu claimed equal to 2·Δu.
    before, after = expr("Δu"), expr("2 * Δu")
    check = verify(before, after, GRID2, [Step("collect_like_terms", before, after)])
    assert check.passes == 0 and not check.ok
    assert check.failed_rule == "collect_like_terms"
    assert check.success_prob == 1 / 10


def test_inputs_vary_between_trials() -> None:
    # Distinct random inputs per trial: an identity that only holds for one input fails.
    before, after = expr("u"), expr("v")
    check = verify(before, after, GRID2, [Step("sort_add", before, after)])
    assert check.passes == 0


def test_continuum_error_amplified_to_everything_is_caught() -> None:
    # ∇·∇u − Δu is exactly the discretisation difference; rewriting it to ∅ changes it completely.
    outcome = normalize(expr("∇·∇u - Δu"), GRID2)
    assert "div_grad_to_lap" in outcome.rule_names and outcome.normal_form == EMPTY
    check = verify(outcome.original, outcome.normal_form, GRID2, outcome.steps)
    assert not check.ok
    assert check.failed_rule == "div_grad_to_lap"


def test_continuum_tolerance_shrinks_with_resolution() -> None:
    coarse = tolerance_for(["div_grad_to_lap"], GRID2)
    fine = tolerance_for(["div_grad_to_lap"], verification_grid(BIG))
    exact = tolerance_for(["collect_like_terms"], GRID2)
    assert exact < fine < coarse < 0.2
    assert RULES_BY_NAME["div_grad_to_lap"].kind == "continuum"
    assert max_wavenumber(GRID2) == 1


def test_large_grids_are_checked_on_the_same_box_with_fewer_points() -> None:
    small = verification_grid(BIG)
    assert small.shape == (64, 64)
    assert small.spacing * small.shape[0] == BIG.spacing * BIG.shape[0]
    assert small.boundary == BIG.boundary


def test_results_are_cached_by_forms_and_grid() -> None:
    cache = VerificationCache()
    outcome = normalize(expr("u + u"), GRID2)
    first = verify(outcome.original, outcome.normal_form, GRID2, outcome.steps, cache=cache)
    second = verify(outcome.original, outcome.normal_form, GRID2, outcome.steps, cache=cache)
    assert first == second
    assert (cache.hits, cache.misses) == (1, 1)


def test_empty_equals_zero_of_any_layout_and_nan_must_match() -> None:
    assert compare_values(np.zeros((4, 4)), np.zeros((4, 4, 2)), 1e-9)[0]
    assert not compare_values(np.ones((4, 4)), np.zeros((4, 4, 2)), 1e-9)[0]
    nan = np.array([1.0, np.nan])
    assert compare_values(nan, nan.copy(), 1e-9)[0]
    assert not compare_values(nan, np.array([1.0, 2.0]), 1e-9)[0]


def evolve(body: str, steps: int = 3) -> Node:
    state = Node("ref", value="s")
    return Node("evolve", args=(Node("num", value=steps), expr("u"), expr(body, x=state)), value="s")


def test_evolve_bodies_are_checked_through_the_loop() -> None:
    stable = evolve("x + 0.0001 * ∇·∇x")
    outcome = normalize(stable, GRID2)
    assert "div_grad_to_lap" in outcome.rule_names
    assert verify(stable, outcome.normal_form, GRID2, outcome.steps).ok


def test_an_unstable_loop_amplifies_the_continuum_error_and_fails() -> None:
    # CFL ≈ 10: the grid-scale modes where ∇·∇ and Δ differ most grow every step.
    unstable = evolve("x + 0.01 * ∇·∇x")
    outcome = normalize(unstable, GRID2)
    check = verify(unstable, outcome.normal_form, GRID2, outcome.steps)
    assert not check.ok and check.failed_rule == "div_grad_to_lap"
