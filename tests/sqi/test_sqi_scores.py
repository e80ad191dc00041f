"""SQI scores on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stages.codex.ast import Node, call, num, ref
from stages.codex.goals import TARGET_KEY, operand_key
from stages.codex.grid import GridSpec
from stages.qwave.measure import observables as measure
from stages.sqi.scores import (
    ScoreError,
    entropy_delta,
    goal_match_score,
    qscore,
    score_beam,
    stability,
    weights_from_flags,
)

from .helpers import collapse_result

OBS = {"norm": 2.0, "energy": 1.5, "mean": 0.0, "min": -1.0, "max": 4.3, "entropy": 3.0, "finite": True}


def cmp(op: str, a: Node, b: Node) -> Node:
    return Node(op, args=(a, b))


def test_no_goal_gives_no_score() -> None:
    assert goal_match_score(None, OBS, {}) is None


def test_satisfied_comparison_scores_one() -> None:
    assert goal_match_score(cmp("lt", ref("energy"), num(2.0)), OBS, {}) == 1.0
    assert goal_match_score(cmp("ge", ref("max"), num(4.3)), OBS, {}) == 1.0


def test_violated_comparison_decays_with_relative_violation() -> None:
    # energy = 1.5 violates energy < 1 by 0.5; scale = |1| -> exp(-0.5)
    assert goal_match_score(cmp("lt", ref("energy"), num(1.0)), OBS, {}) == pytest.approx(math.exp(-0.5))
    # max = 4.3 violates max <= 2 by 2.3, scale 2 -> exp(-1.15)
    assert goal_match_score(cmp("le", ref("max"), num(2.0)), OBS, {}) == pytest.approx(math.exp(-1.15))
    # ≠ at equality has no margin: 0
    assert goal_match_score(cmp("ne", ref("max"), num(4.3)), OBS, {}) == 0.0


def test_operand_expression_is_read_from_goal_values() -> None:
    energy_of_u = call("energy", ref("u"))
    goal = cmp("lt", ref("energy"), energy_of_u)
    # energy(u) = 3.0 -> satisfied; energy(u) = 1.0 -> violated by 0.5, scale 1
    assert goal_match_score(goal, OBS, {operand_key(energy_of_u): 3.0}) == 1.0
    assert goal_match_score(goal, OBS, {operand_key(energy_of_u): 1.0}) == pytest.approx(math.exp(-0.5))
    with pytest.raises(ScoreError, match="not evaluated"):
        goal_match_score(goal, OBS, {})


def test_approx_band_and_decay() -> None:
    inside = Node("approx", args=(ref("max"), num(4.0), num(0.5)))
    assert goal_match_score(inside, OBS, {}) == 1.0
    # |4.3 - 4| = 0.3, tol 0.1: 0.2 outside the band, one tolerance = e^-1 -> exp(-2)
    outside = Node("approx", args=(ref("max"), num(4.0), num(0.1)))
    assert goal_match_score(outside, OBS, {}) == pytest.approx(math.exp(-2.0))


def test_connectives() -> None:
    sat = cmp("lt", ref("energy"), num(2.0))  # 1
    half = cmp("lt", ref("energy"), num(1.0))  # exp(-0.5)
    h = math.exp(-0.5)
    assert goal_match_score(Node("and", args=(sat, half)), OBS, {}) == pytest.approx(h)
    assert goal_match_score(Node("and", args=(half, half)), OBS, {}) == pytest.approx(h * h)
    assert goal_match_score(Node("or", args=(sat, half)), OBS, {}) == 1.0
    assert goal_match_score(Node("not", args=(half,)), OBS, {}) == pytest.approx(1 - h)
    assert goal_match_score(Node("implies", args=(sat, half)), OBS, {}) == pytest.approx(h)
    assert goal_match_score(Node("implies", args=(Node("not", args=(sat,)), half)), OBS, {}) == 1.0
    assert goal_match_score(Node("iff", args=(sat, sat)), OBS, {}) == 1.0
    assert goal_match_score(Node("and", args=(ref("finite"), sat)), OBS, {}) == 1.0
    assert goal_match_score(Node("and", args=(ref("finite"), sat)), {**OBS, "finite": False}, {}) == 0.0


def test_non_finite_operand_cannot_satisfy() -> None:
    assert goal_match_score(cmp("lt", ref("energy"), num(2.0)), {**OBS, "energy": None}, {}) == 0.0


def test_target_expression_scores_relative_error() -> None:
    target = call("sin", ref("x"))
    assert goal_match_score(target, OBS, {TARGET_KEY: 0.25}) == pytest.approx(0.75)
    assert goal_match_score(target, OBS, {TARGET_KEY: 3.0}) == 0.0
    assert goal_match_score(target, OBS, {TARGET_KEY: 0.0}) == 1.0
    with pytest.raises(ScoreError):
        goal_match_score(target, OBS, {})


def test_goal_as_json_is_accepted() -> None:
    assert goal_match_score(cmp("lt", ref("energy"), num(1.0)).to_json(), OBS, {}) == pytest.approx(math.exp(-0.5))


def test_entropy_delta_uniform_input_to_point_output() -> None:
    grid = GridSpec(shape=(16,), spacing=1 / 16)
    uniform = measure(np.ones(16), grid)
    point = np.zeros(16)
    point[3] = 1.0
    peaked = measure(point, grid)
    assert uniform["entropy"] == pytest.approx(4.0)  # log2(16) bits
    assert peaked["entropy"] == pytest.approx(0.0)
    assert entropy_delta(peaked, float(uniform["entropy"])) == pytest.approx(-4.0)  # type: ignore[arg-type]
    assert entropy_delta(uniform, 0.0) == pytest.approx(4.0)
    assert entropy_delta(uniform, None) is None


def test_stability() -> None:
    assert stability({"finite": True}, {"risk_flags": []}) == 1.0
    assert stability({"finite": False}, {"risk_flags": []}) == 0.0
    assert stability({"finite": True}, {"risk_flags": ["cfl"]}) == 0.0
    with pytest.raises(ScoreError):
        stability({}, {})


def test_qscore_is_a_renormalised_weighted_mean() -> None:
    weights = {"goal": 1.0, "rewrite": 1.0, "drift": 1.0, "stability": 1.0}
    value, used = qscore({"goal": 0.5, "rewrite": 1.0, "drift": None, "stability": 0.0}, weights)
    assert value == pytest.approx(0.5)
    assert used == pytest.approx({"goal": 1 / 3, "rewrite": 1 / 3, "stability": 1 / 3})
    value, used = qscore({"goal": None, "rewrite": 0.8, "drift": 0.5, "stability": 1.0},
                         {**weights, "rewrite": 2.0})
    assert value == pytest.approx((2 * 0.8 + 0.5 + 1.0) / 4)
    assert sum(used.values()) == pytest.approx(1.0)


def test_weights_come_from_flags() -> None:
    assert weights_from_flags({"SQI_W_GOAL": 3.0}) == {"goal": 3.0, "rewrite": 1.0, "drift": 1.0, "stability": 1.0}
    with pytest.raises(ScoreError, match="SQI_W_DRIFT"):
        weights_from_flags({"SQI_W_DRIFT": -1.0})


def test_score_beam_combines_everything() -> None:
    goal = cmp("lt", ref("energy"), num(1.0))  # energy 0.5 -> satisfied
    card = score_beam(collapse_result(goal=goal.to_json()), drift=math.pi / 2, flags={})
    assert card.problems == []
    assert card.goal_match_score == 1.0
    assert card.entropy_delta == pytest.approx(5.0 - 6.0)
    assert card.drift == pytest.approx(math.pi / 2)
    assert card.qscore == pytest.approx((1.0 + 0.9 + 0.5 + 1.0) / 4)


def test_score_beam_reports_what_it_cannot_compute() -> None:
    card = score_beam(collapse_result(rewrite_success_prob=None, goal=cmp("lt", call("energy", ref("u")), num(1)).to_json()),
                      drift=None, flags={})
    assert card.rewrite_success_prob == 0.0 and card.goal_match_score == 0.0
    assert any("rewrite_success_prob" in p for p in card.problems)
    assert any("goal" in p for p in card.problems)
