"""Costs of candidate forms, from the Codex cost model, with common sub-expressions counted once.

The Codex model (``stages.codex.cost.estimate_cost``) prices a *tree*. An
evaluator that shares identical closed subtrees — the reference interpreter
caches them, and XLA's common-subexpression elimination does the same under
``jit`` — computes a repeated subtree once, so the price Photon compares is

    dag_flops(e) = tree_flops(e) − Σ (count(s) − 1) · tree_flops(s)

over the outermost repeated subtrees s that lie outside evolve bodies (inside a
body the per-step cost multiplies, and the model already knows how). A form
the model cannot price (it raises) costs +inf, so it is never chosen.
"""

from __future__ import annotations

import math
from typing import Any

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.terms import KeyCache, shared_subtrees


class CostModel:
    """Memoised tree and DAG flop counts of expressions on one grid."""

    def __init__(self, grid: GridSpec, keys: KeyCache | None = None) -> None:
        self.grid = grid
        self.keys = keys or KeyCache()
        self._tree: dict[str, float] = {}
        self._dag: dict[str, float] = {}
        self._records: dict[str, Any] = {}

    def estimate(self, node: Node) -> Any:
        """The Codex ``Cost`` record of ``node`` (memoised; raises what the model raises)."""
        from stages.codex.cost import estimate_cost

        text = self.keys.text(node)
        record = self._records.get(text)
        if record is None:
            record = self._records[text] = estimate_cost(node, self.grid)
        return record

    def cost_json(self, node: Node) -> dict[str, Any]:
        """``Cost.to_json()`` of ``node``: what goes into ``cost_before`` / ``cost_after``."""
        data = self.estimate(node).to_json()
        return dict(data)

    def tree_flops(self, node: Node) -> float:
        text = self.keys.text(node)
        cached = self._tree.get(text)
        if cached is None:
            try:
                cached = float(self.estimate(node).flops)
            except Exception:  # noqa: BLE001 - an unpriceable form is simply never the cheapest
                cached = math.inf
            self._tree[text] = cached
        return cached

    def dag_flops(self, node: Node) -> float:
        """Flops with repeated closed subtrees (outside evolve bodies) counted once."""
        text = self.keys.text(node)
        cached = self._dag.get(text)
        if cached is not None:
            return cached
        total = self.tree_flops(node)
        if math.isfinite(total):
            for shared in shared_subtrees(node, keys=self.keys, into_evolve=False):
                saving = self.tree_flops(shared.node)
                if math.isfinite(saving):
                    total -= (shared.count - 1) * saving
        self._dag[text] = max(total, 0.0)
        return self._dag[text]
