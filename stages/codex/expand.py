"""Expansion: a cell's expression with params folded and lets/cells inlined.

After expansion the only references left are the built-ins (x y z t pi) and the
variables bound by an enclosing ``evolve``. An evolve keeps ``ref x`` for its own
variable in the body; its start (``args[1]``, written ``ref x`` by the parser) is
replaced by x's binding, expanded — or by the enclosing evolve's variable when x
is bound there. Expanded subtrees are shared objects (a let inlined twice is one
tree), so memory stays proportional to the sheet; the *tree* size, which is what
every downstream stage walks and serialises, is limited (``MAX_NODES``, ``MAX_DEPTH``).
"""

from __future__ import annotations

from collections.abc import Mapping

from stages.codex.ast import INITIALISERS, Node, Span
from stages.codex.errors import CodexLimitError
from stages.codex.sheet import Sheet
from stages.codex.types import FieldType

MAX_NODES = 5_000
MAX_DEPTH = 128


class Expander:
    """Expands names of one sheet (memoised per name). Assumes the sheet passed the checker."""

    def __init__(self, sheet: Sheet, types: Mapping[str, FieldType]) -> None:
        self.params = sheet.params
        self.bindings: dict[str, Node] = dict(sheet.lets)
        self.bindings.update({c.id: c.expr for c in sheet.cells})
        self.lets = frozenset(sheet.lets)
        self.types = types
        self.memo: dict[str, Node] = {}
        self.inputs: dict[str, Node | None] = {}

    def name(self, name: str) -> Node:
        found = self.memo.get(name)
        if found is None:
            found = self.expand(self.bindings[name])
            self.memo[name] = found
        return found

    def expand(self, node: Node, bound: frozenset[str] = frozenset()) -> Node:
        op = node.op
        if op == "ref":
            name = str(node.value)
            if name in bound:
                return node
            if name in self.params:
                return Node("num", value=self.params[name], span=node.span)
            if name in self.bindings:
                return self.name(name)
            return node
        if op == "evolve" and len(node.args) == 3:
            count, start, body = node.args
            var = str(node.value)
            new_args: tuple[Node, ...] = (
                self.expand(count, bound), self.expand(start, bound), self.expand(body, bound | {var}))
        else:
            new_args = tuple(self.expand(a, bound) for a in node.args)
        new_kw = tuple((k, self.expand(v, bound)) for k, v in node.kw)
        if all(a is b for a, b in zip(new_args, node.args, strict=True)) and \
                all(a[1] is b[1] for a, b in zip(new_kw, node.kw, strict=True)):
            return node
        return node.replace(args=new_args, kw=new_kw)

    def main_input(self, name: str) -> Node | None:
        """The first field-valued let or initialiser call the definition refers to (pre-order), expanded."""
        if name not in self.inputs:
            self.inputs[name] = None  # guards against re-entry; the checker already refused cycles
            self.inputs[name] = self._first_input(self.bindings[name], frozenset())
        return self.inputs[name]

    def _first_input(self, node: Node, bound: frozenset[str]) -> Node | None:
        if node.op == "ref":
            name = str(node.value)
            if name in bound or name not in self.bindings:
                return None
            if name in self.types and self.types[name].kind == "field" and self._is_let(name):
                return self.name(name)
            return None if self._is_let(name) else self.main_input(name)
        if node.op == "call" and node.value in INITIALISERS:
            return self.expand(node, bound)
        children: list[tuple[Node, frozenset[str]]] = []
        if node.op == "evolve" and len(node.args) == 3:
            count, start, body = node.args
            children = [(count, bound), (start, bound), (body, bound | {str(node.value)})]
        else:
            children = [(a, bound) for a in node.args] + [(v, bound) for _, v in node.kw]
        for child, scope in children:
            found = self._first_input(child, scope)
            if found is not None:
                return found
        return None

    def _is_let(self, name: str) -> bool:
        return name in self.lets


def check_size(node: Node, what: str, span: Span | None = None) -> None:
    """Refuse trees that would be too large or too deep to ship in one event (shared subtrees counted)."""
    sizes: dict[int, tuple[int, int]] = {}
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        if key in sizes and not done:
            continue
        children = (*current.args, *(v for _, v in current.kw))
        if not done:
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        size = 1 + sum(sizes[id(c)][0] for c in children)
        depth = 1 + max((sizes[id(c)][1] for c in children), default=0)
        sizes[key] = (min(size, MAX_NODES + 1), depth)
    size, depth = sizes[id(node)]
    span = span or node.span
    if size > MAX_NODES:
        raise CodexLimitError.at(span, f"{what} has more than {MAX_NODES} nodes once lets and cells are inlined",
                                 hint="lets are inlined wherever they are used; reuse fewer copies", code="too-large")
    if depth > MAX_DEPTH:
        raise CodexLimitError.at(span, f"{what} is nested {depth} levels deep once lets and cells are inlined "
                                       f"(limit {MAX_DEPTH})", hint="shorten chains of lets that refer to each other",
                                 code="too-deep")
