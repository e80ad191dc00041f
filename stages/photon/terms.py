"""Canonical identity of expression trees: content keys, operand order, shared subtrees.

Everything Photon compares or sorts goes through this module so that "the same
expression" means one thing: the canonical JSON of the node (sorted keys, spans
excluded, integral floats written as ints). ``node_key`` is its blake2b digest —
the ``normal_key`` of a beam and the identity of a subtree in the shared-subtree
table. Keys are memoised per node object identity within one ``KeyCache``
because ``Node`` hashing is recursive and expressions are re-keyed many times
while rewriting.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import orjson

from stages.codex.ast import Node

KEY_BYTES = 16


def canonical_number(value: float | int | complex) -> float | int:
    """Integral finite floats become ints so ``2.0`` and ``2`` are one constant (same value)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, complex):
        raise TypeError("complex constants are not representable as num literals")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def canonical_json_bytes(node: Node) -> bytes:
    """Sorted-key compact JSON of the node, spans excluded: the input of every key."""
    return orjson.dumps(node.to_json(), option=orjson.OPT_SORT_KEYS)


def node_key(node: Node) -> str:
    """Content key of a node: blake2b-128 hex of its canonical JSON."""
    return hashlib.blake2b(canonical_json_bytes(node), digest_size=KEY_BYTES).hexdigest()


def node_size(node: Node) -> int:
    """Number of nodes (keyword-argument values included)."""
    # Iterative: Node.walk's nested generators cost a frame per node, and this runs for every candidate.
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        count += 1
        stack.extend(current.args)
        if current.kw:
            stack.extend(child for _, child in current.kw)
    return count


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Texts of operator names and of leaves, shared by every KeyCache: expressions are built from a
# few operators and leaves, and their JSON never changes. Bounded, so odd values cannot grow them.
_MEMO_LIMIT = 65_536
_OP_FIELDS: dict[str, str] = {}
_LEAF_TEXTS: dict[tuple[str, type, Any], str] = {}


def _op_field(op: str) -> str:
    """``"op":<json of op>``, memoised."""
    found = _OP_FIELDS.get(op)
    if found is None:
        found = '"op":' + _dumps(op)
        if len(_OP_FIELDS) < _MEMO_LIMIT:
            _OP_FIELDS[op] = found
    return found


def _leaf_text(op: str, value: Any) -> str:
    """Canonical JSON of a node without operands, memoised by (op, value type, value)."""
    # The type is part of the key: 2 == 2.0 == True in Python, but they are three different texts.
    key = (op, type(value), value)
    found = _LEAF_TEXTS.get(key)
    if found is None:
        found = "{" + _op_field(op) + ("" if value is None else ',"value":' + _dumps(value)) + "}"
        if len(_LEAF_TEXTS) < _MEMO_LIMIT:
            _LEAF_TEXTS[key] = found
    return found


# Leaves sort before compound terms; numbers first so coefficients lead a product.
_OP_RANK = {"num": 0, "bool": 1, "str": 2, "empty": 3, "ref": 4, "tuple": 5, "call": 6}


class KeyCache:
    """Memoised canonical JSON and sort keys for the nodes of one rewrite run.

    Keyed by ``id(node)`` with the node kept alive in the table, so lookups are
    O(1) instead of re-hashing a whole subtree.
    """

    def __init__(self) -> None:
        self._text: dict[int, tuple[Node, str]] = {}

    def text(self, node: Node) -> str:
        """``canonical_json_bytes(node)`` as text, built from the children's cached texts.

        The format is exactly orjson's sorted-key compact JSON of ``node.to_json()``
        (keys args < kw < op < value; empty ones omitted), so keys do not depend on
        which of the two ways computed them.
        """
        hit = self._text.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        args, kw = node.args, node.kw
        if not args and not kw:
            text = _leaf_text(node.op, node.value)
        else:
            text_of = self.text
            head = '{"args":[' + ",".join([text_of(a) for a in args]) + "]," if args else "{"
            if kw:
                items = ",".join(["[" + _dumps(k) + "," + text_of(v) + "]" for k, v in kw])
                head += '"kw":[' + items + "],"
            tail = _op_field(node.op)
            if node.value is not None:
                tail += ',"value":' + _dumps(node.value)
            text = head + tail + "}"
        self._text[id(node)] = (node, text)
        return text

    def sort_key(self, node: Node) -> tuple[int, str]:
        """Total order on operands: leaf class first, then canonical JSON (stable across runs)."""
        return (_OP_RANK.get(node.op, 9), self.text(node))

    def key(self, node: Node) -> str:
        return hashlib.blake2b(self.text(node).encode(), digest_size=KEY_BYTES).hexdigest()


@dataclass(frozen=True)
class SharedSubtree:
    """A subtree that occurs more than once in an expression (computed once by a DAG evaluator)."""

    key: str
    count: int
    size: int
    node: Node

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "count": self.count, "size": self.size, "node": self.node.to_json()}


def hash_cons(
    node: Node, keys: KeyCache | None = None, *, into_evolve: bool = True
) -> tuple[dict[str, Node], dict[str, int]]:
    """The canonical DAG of ``node``: one representative per distinct subtree key, with use counts.

    A subtree's count is how many times it occurs as a child in the tree (the root
    counts once). Subtrees under a repeated subtree are counted once per parent
    occurrence, which is what a tree evaluator would compute; a DAG evaluator
    computes each key once.
    """
    cache = keys or KeyCache()
    by_text, counts = _count_subtrees(node, cache, into_evolve)
    table = {cache.key(n): n for n in by_text.values()}
    return table, {cache.key(by_text[t]): c for t, c in counts.items()}


def _count_subtrees(node: Node, cache: KeyCache, into_evolve: bool) -> tuple[dict[str, Node], dict[str, int]]:
    """``hash_cons`` keyed by canonical text (no digest per node: callers digest only what they report)."""
    table: dict[str, Node] = {}
    counts: dict[str, int] = {}
    stack = [node]
    text_of = cache.text
    while stack:
        current = stack.pop()
        text = text_of(current)
        if text in counts:
            counts[text] += 1
        else:
            table[text] = current
            counts[text] = 1
        if current.op == "evolve" and not into_evolve:
            continue
        stack.extend(current.args)
        stack.extend(child for _, child in current.kw)
    return table, counts


def shared_subtrees(
    node: Node, min_size: int = 2, keys: KeyCache | None = None, *, into_evolve: bool = True
) -> list[SharedSubtree]:
    """Subtrees of size ≥ ``min_size`` occurring more than once, outermost first.

    A subtree that only repeats because its parent repeats is not listed (sharing
    the parent already shares it). ``into_evolve=False`` does not look inside evolve nodes.
    """
    cache = keys or KeyCache()
    table, counts = _count_subtrees(node, cache, into_evolve)
    repeated = {t for t, c in counts.items() if c > 1 and node_size(table[t]) >= min_size}
    if not repeated:
        return []
    implied: set[str] = set()
    for text in repeated:
        for child in _children(table[text]):
            child_text = cache.text(child)
            if counts.get(child_text, 0) == counts[text] * _occurrences(table[text], child_text, cache):
                implied.add(child_text)
    listed = [
        SharedSubtree(key=cache.key(table[t]), count=counts[t], size=node_size(table[t]), node=table[t])
        for t in repeated
        if t not in implied
    ]
    listed.sort(key=lambda s: (-s.size, s.key))
    return listed


def _children(node: Node) -> list[Node]:
    return [*node.args, *(child for _, child in node.kw)]


def _occurrences(parent: Node, text: str, cache: KeyCache) -> int:
    return sum(1 for child in _children(parent) if cache.text(child) == text)
