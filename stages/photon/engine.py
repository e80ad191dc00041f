"""The ordered rewrite engine: innermost-first application of the rule catalogue to a fixed point.

``Rewriter.run(node)`` normalises the children of a node first, then tries the
enabled rules for its operator in catalogue order (skipping a rule whose operand
guard cannot hold: no operand has one of its ``operand_ops``); the first that applies
replaces the node, whose (new) children are normalised again, and the search
restarts at that node. A node where no rule applies is in normal form. Results
are memoised by canonical text, so a subtree that occurs many times is rewritten
once (and traced once). Every application is recorded as a ``Step``.

A step budget bounds the work even if a future rule were to loop: when it runs
out the engine raises ``RewriteBudgetExceeded`` and the caller keeps the input.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from stages.codex.ast import Node
from stages.photon.context import RewriteContext
from stages.photon.rules import RULES, Rule, applies_to

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


@functools.lru_cache(maxsize=1024)
def _dispatch(groups: frozenset[str], op: str) -> tuple[Rule, ...]:
    """The catalogue's rules of ``groups`` tried on an ``op`` node, in order (the catalogue is constant)."""
    return tuple(r for r in RULES if r.group in groups and applies_to(r, op))


class Rewriter:
    """Applies the enabled groups of ``rules`` under ``ctx``; collects the steps it took."""

    def __init__(self, ctx: RewriteContext, budget: int = DEFAULT_BUDGET, base: Rewriter | None = None) -> None:
        self.ctx = ctx
        # A rewriter for a subset of these groups: a node already normal there needs only the rest.
        self.base = base if base is not None and base.ctx.groups < ctx.groups else None
        self.normal: set[str] = set()
        self.budget = budget
        self.steps: list[Step] = []
        self._by_op: dict[str, tuple[Rule, ...]] = {}
        self._memo: dict[str, tuple[Node, tuple[Step, ...]]] = {}
        # Same object seen again (common across runs): skip even the canonical text.
        self._by_id: dict[int, tuple[Node, Node, tuple[Step, ...]]] = {}
        self.applied = 0

    def rules_for(self, op: str) -> tuple[Rule, ...]:
        found = self._by_op.get(op)
        if found is None:
            found = self._by_op[op] = _dispatch(self.ctx.groups, op)
        return found

    def run(self, node: Node) -> Node:
        """The normal form of ``node`` under the enabled rules.

        A memo hit replays the steps that produced the cached result, so every run's
        trace is complete; ``steps_since`` removes the repeats.
        """
        by_id = self._by_id.get(id(node))
        if by_id is not None and by_id[0] is node:
            self.steps.extend(by_id[2])
            return by_id[1]
        text = self.ctx.keys.text(node)
        cached = self._memo.get(text)
        if cached is not None:
            self.steps.extend(cached[1])
            self._by_id[id(node)] = (node, cached[0], cached[1])
            return cached[0]
        start = len(self.steps)
        current = self._children_normalised(node)
        base_normal = self.base is not None and self.ctx.keys.text(current) in self.base.normal
        while True:
            out, rule = self._first_applicable(current, skip_base=base_normal)
            base_normal = False
            if out is None or rule is None:
                break
            self.steps.append(Step(rule.name, current, out))
            self.applied += 1
            if self.applied > self.budget:
                raise RewriteBudgetExceeded(f"more than {self.budget} rewrite steps")
            current = self._children_normalised(out)
        produced = tuple(self.steps[start:])
        self._memo[text] = (current, produced)
        self._by_id[id(node)] = (node, current, produced)
        result_text = self.ctx.keys.text(current)
        self.normal.add(result_text)
        self._memo.setdefault(result_text, (current, ()))
        self._by_id.setdefault(id(current), (current, current, ()))
        return current

    def steps_since(self, start: int) -> tuple[Step, ...]:
        """The distinct steps recorded from index ``start`` on, in first-seen order."""
        # A memo hit replays the very same Step objects, so identity finds the repeats.
        seen: set[int] = set()
        out: list[Step] = []
        for step in self.steps[start:]:
            if id(step) not in seen:
                seen.add(id(step))
                out.append(step)
        return tuple(out)

    def _children_normalised(self, node: Node) -> Node:
        if not node.args and not node.kw:
            return node
        args = tuple([self._run_child(a) for a in node.args])
        kw = tuple([(k, self.run(v)) for k, v in node.kw])
        if all(a is b for a, b in zip(args, node.args, strict=True)) and all(
            a[1] is b[1] for a, b in zip(kw, node.kw, strict=True)
        ):
            return node
        return Node(node.op, args=args, value=node.value, kw=kw, span=node.span)

    def _run_child(self, node: Node) -> Node:
        """``run`` with its commonest case inline: the very same child object normalised before."""
        by_id = self._by_id.get(id(node))
        if by_id is not None and by_id[0] is node:
            if by_id[2]:
                self.steps.extend(by_id[2])
            return by_id[1]
        return self.run(node)

    def _first_applicable(self, node: Node, skip_base: bool = False) -> tuple[Node | None, Rule | None]:
        rules = self.rules_for(node.op)
        if skip_base and self.base is not None:
            rules = _dispatch_extra(self.ctx.groups, self.base.ctx.groups, node.op)
        operand_ops: set[str] | None = None
        for rule in rules:
            if rule.operand_ops:
                if operand_ops is None:
                    operand_ops = {a.op for a in node.args}
                if rule.operand_ops.isdisjoint(operand_ops):
                    continue
            out = rule.apply(node, self.ctx)
            if out is not None:
                return out, rule
        return None, None


@functools.lru_cache(maxsize=1024)
def _dispatch_extra(groups: frozenset[str], base: frozenset[str], op: str) -> tuple[Rule, ...]:
    """The rules of ``groups`` but not of ``base`` tried on an ``op`` node."""
    return tuple(r for r in _dispatch(groups, op) if r.group not in base)
