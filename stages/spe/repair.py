"""repair_from_drift: a patched cell for a vetoed or drifting beam.

Each repair is a rewrite of the cell's normal form chosen by the cause recorded in
the beam (SoulLaw reasons, risk flags, observables):

* non-finite result → regularise: every quotient a/b becomes a·b/(b²+ε) (finite
  wherever a and b are, equal to a/b away from b≈0), sqrt(x) → sqrt(|x|);
* CFL-unstable evolve → smaller dt: the increment of each explicit step is the
  body's additive terms other than the evolve variable itself (``u + a·Δu``: the
  a·Δu term). Every term holding a spatial operator is scaled by f = 0.9/CFL — its
  number literal when it is a product with one (``0.002 * Δu`` → ``0.00022 * Δu``),
  else by a new factor (``Δu`` → ``f * Δu``) — and the evolve takes ⌈1/f⌉ times as
  many steps, so the simulated time is kept while the explicit scheme becomes
  stable. With the grid at hand the patched CFL number is checked with Codex's
  cost model; a patch that is still unstable is not proposed;
* drift → the last approved normal form of the same cell, when one is recorded.

The spec's "missing binding → default initialiser" has no case to act on: a cell
that names an unbound variable (an evolve ``⟲n x ← E`` without a binding for x
included) is a Codex name error, so it never becomes a beam that SPE receives.
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


_SPATIAL = frozenset({"lap", "div", "dalembert"})


def _has_spatial(node: Node) -> bool:
    return any(sub.op in _SPATIAL for sub in node.walk())


def _scale_term(term: Node, factor: float) -> Node:
    """``term`` times ``factor``, as a binary product: its number literal is scaled when it has one."""
    if term.op == "mul":
        for i, arg in enumerate(term.args):
            if arg.op == "num" and isinstance(arg.value, (int, float)) and not isinstance(arg.value, bool):
                return term.replace(args=(*term.args[:i], num(float(arg.value) * factor), *term.args[i + 1:]))
    if term.op == "neg" and term.args:
        return term.replace(args=(_scale_term(term.args[0], factor),))
    return Node("mul", (num(factor), term))


def _scale_diffusion(body: Node, factor: float) -> Node:
    """Scale every additive term of an evolve body that holds a spatial operator by ``factor``."""
    if body.op == "add":
        return body.replace(args=tuple(_scale_diffusion(a, factor) for a in body.args))
    if body.op == "sub" and len(body.args) == 2:
        return body.replace(args=(_scale_diffusion(body.args[0], factor), _scale_diffusion(body.args[1], factor)))
    return _scale_term(body, factor) if _has_spatial(body) else body


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


def patched_cfl(node: Node, grid_json: Mapping[str, Any]) -> float | None:
    """The largest evolve CFL number of ``node`` by Codex's cost model on that grid."""
    from stages.codex.cost import estimate_cost
    from stages.codex.grid import GridSpec

    return estimate_cost(node, GridSpec.from_json(dict(grid_json))).cfl


def repair_from_drift(report: Mapping[str, Any], last_approved: Node | None = None) -> Repair | None:
    """A patch for a vetoed/drifting beam, or None when no repair applies.

    ``report`` is the beam's result: ``normal_form``, ``observables``, ``cost`` (with
    ``risk_flags`` and ``cfl``), ``grid`` and ``decision`` reasons.
    """
    form = Node.from_json(report["normal_form"])
    observables = report.get("observables") or {}
    cost = report.get("cost") or {}
    flags = set(cost.get("risk_flags") or [])
    cfl = cost.get("cfl")
    if (isinstance(cfl, (int, float)) and cfl > 1.0) or "cfl_unstable" in flags:
        if isinstance(cfl, (int, float)) and cfl > 0:
            patched = smaller_dt(form, float(max(cfl, 1.0 + 1e-9)))
            after = patched_cfl(patched, report["grid"]) if report.get("grid") else None
            if after is None or after <= 1.0:
                detail = {"cfl": cfl, "dt_factor": CFL_TARGET / max(cfl, 1.0), "cfl_after": after}
                return Repair("cfl_unstable", patched, detail)
    if observables.get("finite") is False:
        patched = regularise(form)
        if patched != form:
            return Repair("non_finite", patched, {"epsilon": REGULARISATION_EPSILON})
    if last_approved is not None and last_approved != form:
        return Repair("drift", last_approved, {"drift": report.get("score", {}).get("drift")})
    return None
