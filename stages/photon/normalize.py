"""``normalize``: the canonical, cost-chosen normal form of an expression, with its rule trace.

Two ordered rewrite phases and a cost-guided choice:

1. *Canonicalise* with the ``core`` rules (flatten, fold, identities,
   annihilators, collect like terms, sort, vector-calculus identities) — and,
   separately, with ``core`` + ``expand`` (distribution, power expansion,
   linearity of the field operators), which reaches a polynomial-like canonical
   form where cancellations across products become visible.
2. *Extract* with the ``factor`` rules (common factors, factoring linear and
   bilinear operators back out, subtraction, small powers as products) from each
   canonical form. On periodic grids a product-rule variant of the expanded form
   is tried as well.
3. *Choose* the candidate with the fewest flops under the Codex cost model
   (shared subtrees counted once, ``costing.py``); ties go to the smaller tree,
   then to a canonical candidate over the input, then to the smaller key. The
   input competes too, so a normal form never costs more than what came in.

Each canonical candidate is a deterministic function of a canonical form, so
operand order does not change the result unless the input itself is strictly
cheaper than every canonical candidate (then it is kept as it is). The choice is
repeated on its own result until stable, which makes ``normalize`` idempotent
(property-tested with hypothesis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.calculus_rules import BILINEAR_OPS, LINEAR_OPS
from stages.photon.context import RewriteContext
from stages.photon.costing import CostModel
from stages.photon.engine import RewriteBudgetExceeded, Rewriter, Step
from stages.photon.terms import SharedSubtree, node_size, shared_subtrees

CORE = frozenset({"core"})
EXPAND = frozenset({"core", "expand"})
PRODUCT = frozenset({"core", "expand", "product_rule"})
FACTOR = frozenset({"factor"})
MAX_TRACE_STEPS = 200
MAX_ROUNDS = 4


@dataclass(frozen=True)
class Candidate:
    """One equivalent form considered for the normal form."""

    name: str
    node: Node
    steps: tuple[Step, ...]
    flops: float
    size: int
    key: str


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


def normalize(
    node: Node, grid: GridSpec, *, costs: CostModel | None = None, alternatives: bool = False
) -> RewriteOutcome:
    """Normal form of ``node`` on ``grid`` with trace, costs and the alternatives considered.

    ``alternatives`` also prices the fully expanded (unfactored) form, which can
    only tie with its factored version, as a PHASE9 fork candidate.

    The choice is repeated on the chosen form until it chooses itself (at most
    ``MAX_ROUNDS`` rounds), so a tie between two forms reached by different paths
    cannot make a second ``normalize`` pick the other one.
    """
    session = _Session(node, grid, costs or CostModel(grid), alternatives)
    chosen, ranked = session.choose(node)
    steps = chosen.steps
    for _ in range(MAX_ROUNDS - 1):
        again, again_ranked = session.choose(chosen.node)
        if again.node == chosen.node:
            break
        chosen, ranked = again, again_ranked
        steps = steps + again.steps
    if chosen.node == node:
        steps = ()
    model = session.model
    return RewriteOutcome(
        original=node,
        normal_form=chosen.node,
        normal_key=chosen.key,
        steps=steps,
        cost_before=_cost_json(model, node),
        cost_after=_cost_json(model, chosen.node),
        chosen=chosen.name,
        candidates=tuple(ranked),
        shared=tuple(shared_subtrees(chosen.node, keys=model.keys)),
        notes=tuple(dict.fromkeys(session.notes)),
    )


class _Session:
    """One normalisation: rewriters per rule-group set (memos shared across rounds), costs, notes."""

    def __init__(self, root: Node, grid: GridSpec, model: CostModel, alternatives: bool) -> None:
        self.model = model
        self.alternatives = alternatives
        self.base = RewriteContext.for_expression(root, grid, model.keys)
        self.rewriters: dict[frozenset[str], Rewriter] = {}
        self.notes: list[str] = []

    def run(self, node: Node, groups: frozenset[str]) -> tuple[Node, tuple[Step, ...]]:
        rewriter = self.rewriters.get(groups)
        if rewriter is None:
            subsets = [r for g, r in self.rewriters.items() if g < groups]
            base = max(subsets, key=lambda r: len(r.ctx.groups), default=None)
            rewriter = self.rewriters[groups] = Rewriter(self.base.with_groups(groups), base=base)
        start = len(rewriter.steps)
        out = rewriter.run(node)
        return out, rewriter.steps_since(start)

    def candidate(self, name: str, form: Node, steps: tuple[Step, ...]) -> Candidate:
        keys = self.model.keys
        return Candidate(name, form, steps, self.model.dag_flops(form), node_size(form), keys.key(form))

    def choose(self, node: Node) -> tuple[Candidate, list[Candidate]]:
        """One round: the candidates of ``node`` ranked by (flops, size, candidate before input, key)."""
        candidates: list[Candidate] = []
        try:
            canonical, steps_core = self.run(node, CORE)
            # The expansion starts from the canonical form: the core rules have nothing left to do.
            expanded, steps_more = self.run(canonical, EXPAND) if expandable(canonical) else (canonical, ())
            steps_expand = steps_core + steps_more
            factored, steps_f = self.run(canonical, FACTOR)
            candidates.append(self.candidate("factored", factored, steps_core + steps_f))
            expanded_factored, steps_ef = self.run(expanded, FACTOR)
            candidates.append(self.candidate("expanded_factored", expanded_factored, steps_expand + steps_ef))
            if self.alternatives:
                candidates.append(self.candidate("expanded", expanded, steps_expand))
            if self.base.periodic and any(n.op == "grad" for n in expanded.walk()):
                product, steps_p = self.run(expanded, PRODUCT)
                if product != expanded:
                    product_factored, steps_pf = self.run(product, FACTOR)
                    candidates.append(
                        self.candidate("product_rule", product_factored, steps_expand + steps_p + steps_pf)
                    )
        except RewriteBudgetExceeded as exc:
            self.notes.append(f"rewrite stopped: {exc}")
            candidates = []
        # The input competes too (a canonical form never wins by costing more), but loses ties.
        candidates.append(self.candidate("input", node, ()))
        ranked = sorted(candidates, key=lambda c: (c.flops, c.size, c.name == "input", c.key))
        if ranked[0].name == "input" and len(ranked) > 1:
            self.notes.append("every canonical candidate costs more than the input; input kept")
        return ranked[0], ranked


def expandable(node: Node) -> bool:
    """Whether an ``expand`` rule can apply anywhere in a canonical ``node`` (else skip that run)."""
    for n in node.walk():
        if n.op == "mul" and any(a.op == "add" for a in n.args):
            return True
        if n.op == "pow" and n.args and n.args[0].op == "add":
            return True
        if n.op == "neg" and n.args and n.args[0].op == "add":
            return True
        if n.op in LINEAR_OPS and n.args and n.args[0].op in ("add", "mul", "neg"):
            return True
        if n.op in BILINEAR_OPS and any(a.op == "add" for a in n.args):
            return True
    return False


def _cost_json(model: CostModel, node: Node) -> dict[str, Any]:
    try:
        return model.cost_json(node)
    except Exception as exc:  # noqa: BLE001 - the beam still carries why no cost is known
        return {"error": f"{type(exc).__name__}: {exc}"}
