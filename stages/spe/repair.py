"""repair_from_drift: a patched cell for a vetoed or drifting beam.

Each repair is a rewrite of the cell's normal form chosen by the cause recorded in
the beam (SoulLaw reasons, risk flags, observables):

* non-finite result → regularise: every quotient a/b becomes a·b/(b²+ε) (finite
  wherever a and b are, equal to a/b away from b≈0), sqrt(x) → sqrt(|x|);
* CFL-unstable evolve → smaller dt: scale the diffusion coefficient of the evolve
  body by f = 0.9/CFL and take ⌈1/f⌉ times as many steps, so the simulated time
  is kept while the explicit scheme becomes stable;
* drift → the last approved normal form of the same cell, when one is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stages.codex.ast import Node, num

REGULARISATION_EPSILON = 1e-6
CFL_TARGET = 0.9


@dataclass(frozen=True)
class Repair:
    cause: str  # "non_finite" | "cfl_unstable" | "drift"
    patched: Node
    detail: dict[str, Any]


def _map(node: Node, fn: Any) -> Node:
    """Bottom-up rebuild applying ``fn`` to every node."""
    rebuilt = node.replace(
        args=tuple(_map(a, fn) for a in node.args),
        kw=tuple((k, _map(v, fn)) for k, v in node.kw),
    )
    result: Node = fn(rebuilt)
    return result


def regularise(node: Node, epsilon: float = REGULARISATION_EPSILON) -> Node:
    def patch(n: Node) -> Node:
        if n.op == "truediv":
            a, b = n.args
            denominator = Node("add", (Node("mul", (b, b)), num(epsilon)))
            return Node("truediv", (Node("mul", (a, b)), denominator))
        if n.op == "call" and n.value == "sqrt":
            return n.replace(args=(Node("call", (n.args[0],), value="abs"),))
        return n

    return _map(node, patch)


def _scale_diffusion(body: Node, factor: float) -> Node:
    """Scale numeric coefficients multiplying a Laplacian-like term inside an evolve body."""
    spatial = {"lap", "div", "dalembert"}

    def has_spatial(n: Node) -> bool:
        return any(sub.op in spatial for sub in n.walk())

    def patch(n: Node) -> Node:
        if n.op == "mul" and any(has_spatial(a) for a in n.args):
            args = tuple(num(float(a.value) * factor) if a.op == "num" and isinstance(a.value, (int, float))
                         else a for a in n.args)
            if args != n.args:
                return n.replace(args=args)
            return Node("mul", (num(factor), *n.args))
        return n

    return _map(body, patch)


def smaller_dt(node: Node, cfl: float) -> Node:
    """Rewrite every evolve so its explicit step is stable (CFL ≤ 0.9), keeping simulated time."""
    factor = CFL_TARGET / cfl

    def patch(n: Node) -> Node:
        if n.op == "evolve":
            steps, init, body = n.args
            new_steps = int(math.ceil(float(steps.value or 0) / factor))
            return n.replace(args=(num(new_steps), init, _scale_diffusion(body, factor)))
        return n

    return _map(node, patch)


def repair_from_drift(report: Mapping[str, Any], last_approved: Node | None = None) -> Repair | None:
    """A patch for a vetoed/drifting beam, or None when no repair applies.

    ``report`` is the beam's result: ``normal_form``, ``observables``, ``cost`` (with
    ``risk_flags`` and ``cfl``) and ``decision`` reasons.
    """
    form = Node.from_json(report["normal_form"])
    observables = report.get("observables") or {}
    cost = report.get("cost") or {}
    flags = set(cost.get("risk_flags") or [])
    cfl = cost.get("cfl")
    if (isinstance(cfl, (int, float)) and cfl > 1.0) or "cfl_unstable" in flags:
        if isinstance(cfl, (int, float)) and cfl > 0:
            patched = smaller_dt(form, float(max(cfl, 1.0 + 1e-9)))
            return Repair("cfl_unstable", patched, {"cfl": cfl, "dt_factor": CFL_TARGET / max(cfl, 1.0)})
    if observables.get("finite") is False:
        patched = regularise(form)
        if patched != form:
            return Repair("non_finite", patched, {"epsilon": REGULARISATION_EPSILON})
    if last_approved is not None and last_approved != form:
        return Repair("drift", last_approved, {"drift": report.get("score", {}).get("drift")})
    return None
