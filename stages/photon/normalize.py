"""``normalize``: the canonical, cost-chosen normal form of an expression, with its rule trace.

Two ordered rewrite phases and a cost-guided choice:

1. *Canonicalise* with the ``core`` rules (flatten, fold, identities,
   annihilators, collect like terms, sort, vector-calculus identities) — and,
   separately, with ``core`` + ``expand`` (distribution, power expansion,
   linearity of the field operators), which reaches a polynomial-like canonical
   form where cancellations across products become visible.
2. *Extract* with the ``factor`` rules (common factors, factoring linear and
   bilinear operators back out, subtraction) from each canonical form. On periodic
   grids a product-rule variant of the expanded form is tried as well.
3. *Choose* the candidate with the fewest flops under the Codex cost model
   (shared subtrees counted once, ``costing.py``); ties go to the smaller tree,
   then to the candidate order below, then to the key.

Each candidate is a deterministic function of a canonical form, so operand order
never changes the result, and ``normalize`` is idempotent (the chosen form
re-canonicalises to the same canonical forms; tested with hypothesis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.context import RewriteContext
from stages.photon.costing import CostModel
from stages.photon.engine import RewriteBudgetExceeded, Rewriter, Step
from stages.photon.terms import KeyCache, SharedSubtree, node_size, shared_subtrees

CORE = frozenset({"core"})
EXPAND = frozenset({"core", "expand"})
PRODUCT = frozenset({"core", "expand", "product_rule"})
FACTOR = frozenset({"factor"})
MAX_TRACE_STEPS = 200


@dataclass(frozen=True)
class Candidate:
    """One equivalent form considered for the normal form."""

    name: str
    node: Node
    steps: tuple[Step, ...]
    flops: float
    size: int
    key: str

    def rank(self, order: int) -> tuple[float, int, int, str]:
        return (self.flops, self.size, order, self.key)


@dataclass(frozen=True)
class RewriteOutcome:
    """The result of ``normalize`` (see module docstring)."""

    original: Node
    normal_form: Node
    normal_key: str
    steps: tuple[Step, ...]
    cost_before: dict[str, Any]
    cost_after: dict[str, Any]
    chosen: str
    candidates: tuple[Candidate, ...] = ()
    shared: tuple[SharedSubtree, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rewritten(self) -> bool:
        return self.normal_form != self.original

    @property
    def rules(self) -> list[dict[str, Any]]:
        """The trace as ``[{rule, before, after}]`` (AST JSON), at most MAX_TRACE_STEPS entries."""
        return [s.to_json() for s in self.steps[:MAX_TRACE_STEPS]]

    @property
    def rule_names(self) -> list[str]:
        return [s.rule for s in self.steps]

    def alternatives(self, limit: int = 3) -> list[Candidate]:
        """Up to ``limit`` distinct equivalent forms, cheapest first (the normal form first)."""
        seen: set[str] = set()
        out: list[Candidate] = []
        for cand in self.candidates:
            if cand.key in seen:
                continue
            seen.add(cand.key)
            out.append(cand)
            if len(out) == limit:
                break
        return out


def normalize(node: Node, grid: GridSpec, *, costs: CostModel | None = None) -> RewriteOutcome:
    """Normal form of ``node`` on ``grid`` with trace, costs and the alternatives considered."""
    keys = costs.keys if costs is not None else KeyCache()
    model = costs or CostModel(grid, keys)
    base = RewriteContext.for_expression(node, grid, keys)
    notes: list[str] = []
    candidates: list[Candidate] = []

    def consider(name: str, form: Node, steps: tuple[Step, ...]) -> None:
        candidates.append(Candidate(name, form, steps, model.dag_flops(form), node_size(form), keys.key(form)))

    try:
        canonical, steps_core = _run(node, base.with_groups(CORE))
        expanded, steps_expand = _run(node, base.with_groups(EXPAND))
        factored, steps_f = _run(canonical, base.with_groups(FACTOR))
        consider("factored", factored, steps_core + steps_f)
        expanded_factored, steps_ef = _run(expanded, base.with_groups(FACTOR))
        consider("expanded_factored", expanded_factored, steps_expand + steps_ef)
        consider("expanded", expanded, steps_expand)
        if base.periodic and any(n.op == "grad" for n in expanded.walk()):
            product, steps_p = _run(expanded, base.with_groups(PRODUCT))
            if product != expanded:
                product_factored, steps_pf = _run(product, base.with_groups(FACTOR))
                consider("product_rule", product_factored, steps_expand + steps_p + steps_pf)
    except RewriteBudgetExceeded as exc:
        notes.append(f"rewrite stopped: {exc}")
        candidates = []
    order = {name: i for i, name in enumerate(("factored", "expanded_factored", "product_rule", "expanded"))}
    ranked = sorted(candidates, key=lambda c: c.rank(order[c.name]))
    original_flops = model.dag_flops(node)
    if not ranked or ranked[0].flops > original_flops:
        # Never trade a form for a dearer one: the canonical forms only win when they do not cost more.
        if ranked:
            notes.append("every candidate costs more than the input; input kept")
        chosen = Candidate("input", node, (), original_flops, node_size(node), keys.key(node))
        ranked = [chosen, *ranked]
    chosen = ranked[0]
    steps = chosen.steps if chosen.node != node else ()
    return RewriteOutcome(
        original=node,
        normal_form=chosen.node,
        normal_key=chosen.key,
        steps=steps,
        cost_before=_cost_json(model, node),
        cost_after=_cost_json(model, chosen.node),
        chosen=chosen.name,
        candidates=tuple(ranked),
        shared=tuple(shared_subtrees(chosen.node)),
        notes=tuple(notes),
    )


def _run(node: Node, ctx: RewriteContext) -> tuple[Node, tuple[Step, ...]]:
    rewriter = Rewriter(ctx)
    out = rewriter.run(node)
    return out, tuple(rewriter.steps)


def _cost_json(model: CostModel, node: Node) -> dict[str, Any]:
    try:
        return model.cost_json(node)
    except Exception as exc:  # noqa: BLE001 - the beam still carries why no cost is known
        return {"error": f"{type(exc).__name__}: {exc}"}
