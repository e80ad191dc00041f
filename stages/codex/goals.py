"""Which parts of a goal need the cell's computed values, and how they are keyed.

A goal is either a predicate (``energy < energy(u)``, ``max ≈ 4 ± 0.1``) or a
target expression (a field the value should match). The collapse step — where
arrays exist — evaluates every operand that is not a bare observable or a number
and records it under ``operand_key``; SQI then scores the predicate from numbers
alone, without touching arrays.
"""

from __future__ import annotations

import hashlib

import orjson

from stages.codex.ast import COMPARISONS, CONNECTIVES, OBSERVABLES, Node

TARGET_KEY = "__target__"
PREDICATE_OPS = COMPARISONS | CONNECTIVES | {"approx", "bool"}


def is_predicate(goal: Node) -> bool:
    return goal.op in PREDICATE_OPS


def operand_key(node: Node) -> str:
    """Stable key of an operand expression (content hash of its JSON, spans excluded)."""
    blob = orjson.dumps(node.to_json(), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def is_observable_ref(node: Node) -> bool:
    return node.op == "ref" and node.value in OBSERVABLES


def goal_operands(goal: Node) -> list[Node]:
    """Operand expressions of a predicate that must be evaluated on arrays (deduplicated, in order)."""
    found: dict[str, Node] = {}

    def visit(node: Node) -> None:
        if node.op in CONNECTIVES:
            for arg in node.args:
                visit(arg)
            return
        if node.op in COMPARISONS or node.op == "approx":
            for arg in node.args:
                if arg.op in ("num", "bool") or is_observable_ref(arg):
                    continue
                found.setdefault(operand_key(arg), arg)

    visit(goal)
    return list(found.values())
