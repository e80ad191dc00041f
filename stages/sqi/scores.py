"""SQI scores of one collapsed beam: pure functions of the collapse result (stages.md).

Every score is in [0, 1] except ``entropy_delta`` (bits, any sign) and
``drift`` (radians, [0, π]).

``goal_match_score`` — fuzzy truth of the cell's goal (``None`` without a goal):

* comparison ``a op b`` (``< <= > >= = ≠``): 1 when satisfied, else
  ``exp(−|a − b| / scale)`` with ``scale = max(|b|, 1e-12)`` — the violation
  relative to the bound written on the right. The score is continuous at the
  boundary (a strict ``<`` that fails by equality scores exp(0) = 1, its limit);
  ``≠`` at equality has no margin to measure and scores 0. A comparison with a
  non-finite or null (NaN serialised as JSON null) operand that is not
  satisfied scores 0.
* ``x ≈ v ± tol``: 1 when ``|x − v| ≤ tol``, else ``exp(−(|x − v| − tol) / s)``
  with ``s = tol`` (so one tolerance outside the band scores e⁻¹), or
  ``max(|v|, 1e-12)`` when tol is 0.
* ``a ∧ b`` = product, ``a ∨ b`` = max, ``¬a`` = 1 − a, ``a ⇒ b`` = max(1 − a, b)
  (the same as ¬a ∨ b), ``a ⇔ b`` = (a ⇒ b)·(b ⇒ a). On crisp 0/1 values these
  are the boolean truth tables.
* ``⊤``/``⊥`` and boolean observables (``finite``) used as truth values score 1/0.
* a target expression (a goal that is not a predicate) scores
  ``1 − min(1, ‖x − t‖/‖t‖)`` read from ``goal_values["__target__"]``.

Operand values: numbers are literals; a bare observable name (``energy``,
``max`` …) is read from the beam's ``observables``; any other operand
expression from ``goal_values[operand_key(expr)]`` (computed at collapse, where
arrays exist). A value that is not there raises ``ScoreError``.

``stability`` — 1 when the result is finite and Codex raised no risk flag
(memory cap, CFL, division by a vanishing field), else 0.

``qscore`` — the weighted mean of goal, rewrite_success_prob, 1 − drift/π and
stability; weights come from the flags ``SQI_W_GOAL``, ``SQI_W_REWRITE``,
``SQI_W_DRIFT``, ``SQI_W_STABILITY`` (default 1 each) and are renormalised over
the terms present (no goal → no goal term; no basin → no drift term).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stages.codex.ast import OBSERVABLES, Node
from stages.codex.goals import TARGET_KEY, is_predicate, operand_key

SCALE_FLOOR = 1e-12
TERM_FLAGS = {
    "goal": "SQI_W_GOAL",
    "rewrite": "SQI_W_REWRITE",
    "drift": "SQI_W_DRIFT",
    "stability": "SQI_W_STABILITY",
}


class ScoreError(ValueError):
    """A score cannot be computed from what the collapse recorded (the beam fails closed)."""


def _resolve(node: Node, observables: Mapping[str, Any], goal_values: Mapping[str, Any]) -> float | None:
    """Numeric value of a comparison operand; ``None`` stands for a null (non-finite) value."""
    if node.op == "num":
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ScoreError(f"number literal holds {node.value!r}")
        return float(node.value)
    if node.op == "bool":
        return 1.0 if node.value else 0.0
    if node.op == "ref" and node.value in OBSERVABLES:
        name = str(node.value)
        if name not in observables:
            raise ScoreError(f"observable {name!r} was not recorded at collapse")
        value = observables[name]
    else:
        key = operand_key(node)
        if key not in goal_values:
            raise ScoreError(f"goal operand {_short(node)} (key {key}) was not evaluated at collapse")
        value = goal_values[key]
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float)):
        raise ScoreError(f"goal operand {_short(node)} is not a number: {value!r}")
    return float(value)


def _short(node: Node) -> str:
    return f"{node.op}({node.value})" if node.value is not None else node.op


def _comparison(op: str, a: float | None, b: float | None) -> float:
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return 0.0
    satisfied = {
        "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b, "ne": a != b,
    }[op]
    if satisfied:
        return 1.0
    if op == "ne":
        return 0.0
    violation = abs(a - b)
    scale = max(abs(b), SCALE_FLOOR)
    if not math.isfinite(violation) or not math.isfinite(scale):
        return 0.0
    return math.exp(-violation / scale)


def _approx(x: float | None, v: float | None, tol: float | None) -> float:
    if x is None or v is None or tol is None or not all(map(math.isfinite, (x, v, tol))):
        return 0.0
    distance = abs(x - v)
    band = abs(tol)
    if distance <= band:
        return 1.0
    scale = band if band > 0 else max(abs(v), SCALE_FLOOR)
    return math.exp(-(distance - band) / scale)


def _truth_value(node: Node, observables: Mapping[str, Any], goal_values: Mapping[str, Any]) -> float:
    op = node.op
    if op in ("lt", "le", "gt", "ge", "eq", "ne"):
        if len(node.args) != 2:
            raise ScoreError(f"comparison {op} needs two operands")
        a, b = (_resolve(arg, observables, goal_values) for arg in node.args)
        return _comparison(op, a, b)
    if op == "approx":
        if len(node.args) != 3:
            raise ScoreError("≈ needs a value, a centre and a tolerance")
        x, v, tol = (_resolve(arg, observables, goal_values) for arg in node.args)
        return _approx(x, v, tol)
    if op == "not":
        return 1.0 - _truth_value(node.args[0], observables, goal_values)
    if op in ("and", "or", "implies", "iff"):
        a = _truth_value(node.args[0], observables, goal_values)
        b = _truth_value(node.args[1], observables, goal_values)
        if op == "and":
            return a * b
        if op == "or":
            return max(a, b)
        if op == "implies":
            return max(1.0 - a, b)
        return max(1.0 - a, b) * max(1.0 - b, a)
    if op == "bool":
        return 1.0 if node.value else 0.0
    if op == "ref" and node.value in OBSERVABLES:
        value = observables.get(str(node.value))
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        raise ScoreError(f"observable {node.value!r} is not a truth value ({value!r})")
    raise ScoreError(f"{_short(node)} is not a truth value")


def goal_match_score(
    goal: Node | Mapping[str, Any] | None,
    observables: Mapping[str, Any],
    goal_values: Mapping[str, Any],
) -> float | None:
    """Fuzzy satisfaction of ``goal`` in [0, 1]; ``None`` when the cell has no goal."""
    if goal is None:
        return None
    tree = goal if isinstance(goal, Node) else Node.from_json(goal)
    if is_predicate(tree):
        return _truth_value(tree, observables, goal_values)
    if TARGET_KEY not in goal_values:
        raise ScoreError("target goal: relative error '__target__' was not evaluated at collapse")
    error = goal_values[TARGET_KEY]
    if isinstance(error, bool) or not isinstance(error, (int, float)) or math.isnan(error):
        return 0.0
    return 1.0 - min(1.0, max(0.0, float(error)))


def rewrite_success_prob(result: Mapping[str, Any]) -> float:
    """Photon's verification estimate, carried in the beam result; must be in [0, 1]."""
    value = result.get("rewrite_success_prob")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScoreError(f"rewrite_success_prob missing or not a number: {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ScoreError(f"rewrite_success_prob {value!r} is outside [0, 1]")
    return float(value)


def entropy_delta(observables: Mapping[str, Any], input_entropy: float | None) -> float | None:
    """Output entropy minus the main input's entropy (bits); ``None`` when either is unknown."""
    output = observables.get("entropy")
    if input_entropy is None or isinstance(output, bool) or not isinstance(output, (int, float)):
        return None
    delta = float(output) - float(input_entropy)
    return delta if math.isfinite(delta) else None


def stability(observables: Mapping[str, Any], cost: Mapping[str, Any]) -> float:
    """1 when the value is finite and the cost model raised no risk flag, else 0."""
    finite = observables.get("finite")
    if not isinstance(finite, bool):
        raise ScoreError(f"observable 'finite' missing or not a boolean: {finite!r}")
    flags = cost.get("risk_flags", [])
    if not isinstance(flags, list):
        raise ScoreError(f"cost.risk_flags is not a list: {flags!r}")
    return 1.0 if finite and not flags else 0.0


def weights_from_flags(flags: Mapping[str, Any]) -> dict[str, float]:
    """The qscore weight of each term (flags ``SQI_W_*``, default 1); negative or non-finite → error."""
    weights: dict[str, float] = {}
    for term, flag in TERM_FLAGS.items():
        value = flags.get(flag, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ScoreError(f"flag {flag} must be a finite number >= 0, got {value!r}")
        weights[term] = float(value)
    return weights


def qscore(terms: Mapping[str, float | None], weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """Weighted mean of the present terms; returns (qscore, the renormalised weights used)."""
    present = {t: v for t, v in terms.items() if v is not None and weights.get(t, 0.0) > 0}
    total = sum(weights[t] for t in present)
    if total <= 0:
        raise ScoreError("no qscore term has a positive weight")
    used = {t: weights[t] / total for t in present}
    value = sum(used[t] * float(v) for t, v in present.items())
    return min(1.0, max(0.0, value)), used


@dataclass
class ScoreCard:
    """Every SQI score of one beam, plus the problems that make the beam fail closed."""

    goal_match_score: float | None
    rewrite_success_prob: float
    entropy_delta: float | None
    drift: float | None
    stability: float
    qscore: float
    weights: dict[str, float]
    problems: list[str] = field(default_factory=list)

    def as_input(self) -> dict[str, Any]:
        """The ``score`` mapping SoulLaw rules see."""
        return {
            "goal_match_score": self.goal_match_score,
            "rewrite_success_prob": self.rewrite_success_prob,
            "entropy_delta": self.entropy_delta,
            "drift": self.drift,
            "stability": self.stability,
            "qscore": self.qscore,
        }


def score_beam(result: Mapping[str, Any], *, drift: float | None, flags: Mapping[str, Any]) -> ScoreCard:
    """All scores of a collapse result. A score that cannot be computed takes its
    worst value (0) and is listed in ``problems``; the stage then denies the beam."""
    problems: list[str] = []
    observables = result.get("observables")
    if not isinstance(observables, Mapping):
        problems.append("collapse result has no observables")
        observables = {}
    goal_values = result.get("goal_values") or {}
    cost = result.get("cost") or {}

    goal: float | None
    try:
        goal = goal_match_score(result.get("goal"), observables, goal_values)
    except (ScoreError, IndexError, KeyError, TypeError, ValueError) as exc:
        problems.append(f"goal_match_score: {exc}")
        goal = 0.0
    try:
        rewrite = rewrite_success_prob(result)
    except ScoreError as exc:
        problems.append(str(exc))
        rewrite = 0.0
    try:
        stable = stability(observables, cost)
    except ScoreError as exc:
        problems.append(f"stability: {exc}")
        stable = 0.0
    if drift is not None and not (math.isfinite(drift) and 0.0 <= drift <= math.pi + 1e-9):
        problems.append(f"drift {drift!r} is outside [0, π]")
        drift = math.pi
    terms = {
        "goal": goal,
        "rewrite": rewrite,
        "drift": None if drift is None else 1.0 - min(drift, math.pi) / math.pi,
        "stability": stable,
    }
    try:
        value, used = qscore(terms, weights_from_flags(flags))
    except ScoreError as exc:
        problems.append(f"qscore: {exc}")
        value, used = 0.0, {}
    input_entropy = result.get("input_entropy")
    delta = entropy_delta(
        observables, float(input_entropy) if isinstance(input_entropy, (int, float)) else None
    )
    return ScoreCard(
        goal_match_score=goal, rewrite_success_prob=rewrite, entropy_delta=delta, drift=drift,
        stability=stable, qscore=value, weights=used, problems=problems,
    )
