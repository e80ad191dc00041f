"""The ``result`` blocks of Photon's beams: what is carried forward and what Photon adds.

A rewrite beam's result is the ingest fields downstream stages read (grid, goal,
main_input, precision, seed, shape, type, source, deps, ast) plus Photon's own:
``normal_form``, ``normal_key``, ``rules`` (the trace, bounded in size),
``cost_before``/``cost_after``, ``cost`` (of the form that will run: what
SoulLaw's cost rules judge), ``rewrite_success_prob``, ``verification``,
``route``, ``threshold``, ``fork``/``fork_count``, ``shared`` (repeated
subtrees) and ``chosen`` (which candidate won).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from stages.codex.ast import Node
from stages.photon.engine import Step
from stages.photon.routing import RouteDecision
from stages.photon.terms import SharedSubtree
from stages.photon.verify import Verification

CARRIED_FIELDS = ("grid", "goal", "main_input", "precision", "seed", "shape", "type", "source", "deps", "ast")
MAX_TRACE_BYTES = 256 * 1024
MAX_SHARED = 16


@dataclass(frozen=True)
class FormReport:
    """One form Photon will send on (the normal form, or a PHASE9 fork), with its evidence."""

    node: Node
    key: str
    steps: tuple[Step, ...]
    cost_after: dict[str, Any]
    success_prob: float
    verification: Verification | None
    chosen: str
    shared: tuple[SharedSubtree, ...] = ()
    kept_original: bool = False


def carried(ingest: Mapping[str, Any]) -> dict[str, Any]:
    return {name: ingest[name] for name in CARRIED_FIELDS if name in ingest}


def trace_json(steps: tuple[Step, ...]) -> tuple[list[dict[str, Any]], int]:
    """The trace as JSON, cut where it would exceed MAX_TRACE_BYTES; also how many steps were cut."""
    out: list[dict[str, Any]] = []
    used = 0
    for index, step in enumerate(steps):
        item = step.to_json()
        used += len(orjson.dumps(item))
        if used > MAX_TRACE_BYTES:
            return out, len(steps) - index
        out.append(item)
    return out, 0


def cost_copy(cost: Mapping[str, Any]) -> dict[str, Any]:
    """A cost record of this beam's own: the stage remembers reports (and their costs) across
    beams, so no two payloads share a mutable part (``risk_flags`` is a list)."""
    return {name: list(value) if isinstance(value, list) else value for name, value in cost.items()}


def verification_json(report: FormReport) -> dict[str, Any]:
    if report.verification is None:
        return {"passes": 0, "k": 0, "skipped": "nothing was rewritten"}
    data = report.verification.to_json()
    if report.kept_original:
        data["kept_original"] = True
    return data


def rewrite_result(
    ingest: Mapping[str, Any],
    report: FormReport,
    *,
    cost_before: Mapping[str, Any],
    decision: RouteDecision,
    fork: int | None,
    fork_count: int | None,
) -> dict[str, Any]:
    """The result of a rewrite (or predict / deferred) beam for one form."""
    rules, cut = trace_json(report.steps)
    cost_after = cost_copy(report.cost_after)
    runs_with = cost_after if "error" not in cost_after else dict(ingest.get("cost") or {})
    out = carried(ingest)
    out.update(
        normal_form=report.node.to_json(),
        normal_key=report.key,
        rules=rules,
        cost_before=cost_copy(cost_before),
        cost_after=cost_after,
        cost=runs_with,
        rewrite_success_prob=report.success_prob,
        verification=verification_json(report),
        route=decision.route,
        threshold=decision.threshold,
        fork=fork,
        chosen=report.chosen,
        shared=[s.to_json() for s in report.shared[:MAX_SHARED]],
    )
    if cut:
        out["rules_truncated"] = cut
    if fork_count is not None:
        out["fork_count"] = fork_count
    if decision.deferred:
        out["deferral"] = decision.to_json()
    return out
