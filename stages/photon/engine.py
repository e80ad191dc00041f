"""The ordered rewrite engine: innermost-first application of the rule catalogue to a fixed point.

``Rewriter.run(node)`` normalises the children of a node first, then tries the
enabled rules for its operator in catalogue order; the first that applies
replaces the node, whose (new) children are normalised again, and the search
restarts at that node. A node where no rule applies is in normal form. Results
are memoised by canonical text, so a subtree that occurs many times is rewritten
once (and traced once). Every application is recorded as a ``Step``.

A step budget bounds the work even if a future rule were to loop: when it runs
out the engine raises ``RewriteBudgetExceeded`` and the caller keeps the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stages.codex.ast import Node
from stages.photon.context import RewriteContext
from stages.photon.patterns import head_op
from stages.photon.rules import RULES, Rule

DEFAULT_BUDGET = 20_000


class RewriteBudgetExceeded(RuntimeError):
    """More rule applications than the budget allows (a non-terminating rule set)."""


@dataclass(frozen=True)
class Step:
    """One rule application: the subtree before and after."""

    rule: str
    before: Node
    after: Node

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "before": self.before.to_json(), "after": self.after.to_json()}


class Rewriter:
    """Applies the enabled groups of ``rules`` under ``ctx``; collects the steps it took."""

    def __init__(self, ctx: RewriteContext, rules: tuple[Rule, ...] = RULES, budget: int = DEFAULT_BUDGET) -> None:
        self.ctx = ctx
        self.rules = tuple(r for r in rules if r.group in ctx.groups)
        self.budget = budget
        self.steps: list[Step] = []
        self._by_op: dict[str, tuple[Rule, ...]] = {}
        self._memo: dict[str, Node] = {}

    def rules_for(self, op: str) -> tuple[Rule, ...]:
        found = self._by_op.get(op)
        if found is None:
            found = tuple(r for r in self.rules if head_op(r.pattern) in (op, None))
            self._by_op[op] = found
        return found

    def run(self, node: Node) -> Node:
        """The normal form of ``node`` under the enabled rules."""
        text = self.ctx.keys.text(node)
        cached = self._memo.get(text)
        if cached is not None:
            return cached
        current = self._children_normalised(node)
        while True:
            out, rule = self._first_applicable(current)
            if out is None or rule is None:
                break
            self.steps.append(Step(rule.name, current, out))
            if len(self.steps) > self.budget:
                raise RewriteBudgetExceeded(f"more than {self.budget} rewrite steps")
            current = self._children_normalised(out)
        self._memo[text] = current
        self._memo[self.ctx.keys.text(current)] = current
        return current

    def _children_normalised(self, node: Node) -> Node:
        if not node.args and not node.kw:
            return node
        args = tuple(self.run(a) for a in node.args)
        kw = tuple((k, self.run(v)) for k, v in node.kw)
        if all(a is b for a, b in zip(args, node.args, strict=True)) and all(
            a[1] is b[1] for a, b in zip(kw, node.kw, strict=True)
        ):
            return node
        return Node(node.op, args=args, value=node.value, kw=kw, span=node.span)

    def _first_applicable(self, node: Node) -> tuple[Node | None, Rule | None]:
        for rule in self.rules_for(node.op):
            out = rule.apply(node, self.ctx)
            if out is not None:
                return out, rule
        return None, None
