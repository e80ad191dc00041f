"""A small pattern language over ``Node`` trees: rules say *what* they match as data.

``P("div", P("grad", V("u")))`` matches ∇·∇u and binds ``u``; the same variable
used twice (``P("ominus", V("a"), V("a"))``) must bind equal subtrees. ``P(op)``
with ``args=None`` matches any arity (n-ary ``add``/``mul``, whose rules then
inspect the operands in their builder). ``instantiate`` builds a replacement
from a template and the bindings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stages.codex.ast import Node

Bindings = dict[str, Node]


@dataclass(frozen=True)
class V:
    """A pattern variable; ``op`` optionally restricts the operator of what it binds."""

    name: str
    op: str | None = None


@dataclass(frozen=True)
class P:
    """Match a node with operator ``op`` and (when given) exactly these argument patterns / value."""

    op: str
    args: tuple[Pattern, ...] | None = None
    value: Any = None

    def __init__(self, op: str, *args: Pattern, any_args: bool = False, value: Any = None) -> None:
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "args", None if any_args else tuple(args))
        object.__setattr__(self, "value", value)


Pattern = P | V


def head_op(pattern: Pattern) -> str | None:
    """The operator a pattern requires at its root (None: matches any root)."""
    return pattern.op if isinstance(pattern, P) else pattern.op


def match(pattern: Pattern, node: Node, bindings: Bindings | None = None) -> Bindings | None:
    """Bindings that make ``pattern`` equal to ``node``, or None."""
    found: Bindings = {} if bindings is None else bindings
    if isinstance(pattern, V):
        if pattern.op is not None and node.op != pattern.op:
            return None
        bound = found.get(pattern.name)
        if bound is None:
            found[pattern.name] = node
            return found
        return found if bound == node else None
    if node.op != pattern.op:
        return None
    if pattern.value is not None and node.value != pattern.value:
        return None
    if pattern.args is None:
        return found
    if len(pattern.args) != len(node.args) or node.kw:
        return None
    for sub, child in zip(pattern.args, node.args, strict=True):
        if match(sub, child, found) is None:
            return None
    return found


def instantiate(template: Pattern, bindings: Bindings) -> Node:
    """The node a template denotes under ``bindings`` (every variable must be bound)."""
    if isinstance(template, V):
        return bindings[template.name]
    args = tuple(instantiate(a, bindings) for a in template.args or ())
    return Node(template.op, args=args, value=template.value)


def render_pattern(pattern: Pattern) -> str:
    """Readable form for rule catalogues: ``div(grad(?u))``."""
    if isinstance(pattern, V):
        return f"?{pattern.name}" + (f":{pattern.op}" if pattern.op else "")
    if pattern.args is None:
        return f"{pattern.op}(…)"
    inner = ", ".join(render_pattern(a) for a in pattern.args)
    value = f"[{pattern.value}]" if pattern.value is not None else ""
    return f"{pattern.op}{value}({inner})"
