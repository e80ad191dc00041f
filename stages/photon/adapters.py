"""The Photon AST (glyph-level nested tuples) and exact conversion to and from the Codex AST.

Photon's form is what a rewrite engine over glyphs reads naturally: every node is
a tuple whose first item is the glyph.

==========================  ==========================================
Codex ``Node``              Photon tuple
==========================  ==========================================
num v                       ``("#", v)``
bool v                      ``("⊤",)`` / ``("⊥",)``
str s                       ``("'", s)``
ref name                    ``("@", name)``
attr path                   ``(".", path)``
empty                       ``("∅",)``
tuple (a, b)                ``("()", A, B)``
grad div curl lap …         ``("∇", A)`` ``("∇·", A)`` ``("∇×", A)`` ``("Δ", A)`` …
add sub mul … oplus ominus  ``("+", A, B, …)`` ``("-", A, B)`` ``("*", …)`` ``("⊕", …)`` …
predicates                  ``("<", A, B)`` ``("≈", X, V, T)`` ``("∧", A, B)`` ``("not", A)`` …
call f(args; k=v)           ``("ƒ", f, (A, …), (("k", V), …))``
evolve x (n, init, body)    ``("⟲", x, N, INIT, BODY)``
anything else               ``("?", op, value, (A, …), (("k", V), …))``
==========================  ==========================================

A node is written in its glyph form only when that form can hold everything it
carries (no stray ``value``/``kw``, the right arity for leaves); otherwise the
general ``"?"`` form is used, so ``photon_to_codex_ast(codex_to_photon_ast(t)) == t``
for every tree (property-tested). Source spans are not carried (``Node`` equality
ignores them too).
"""

from __future__ import annotations

from typing import Any

from stages.codex.ast import Node

PhotonAst = tuple[Any, ...]

OPERATOR_GLYPHS: dict[str, str] = {
    "grad": "∇", "div": "∇·", "curl": "∇×", "lap": "Δ", "dalembert": "□", "ddt": "d/dt", "neg": "¬",
    "delay": "⧖", "add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "^", "outer": "⊗",
    "dot": "•", "cross": "×", "oplus": "⊕", "ominus": "⊖", "lt": "<", "le": "≤", "gt": ">", "ge": "≥",
    "eq": "=", "ne": "≠", "approx": "≈", "and": "∧", "or": "∨", "implies": "⇒", "iff": "⇔", "not": "not",
    "tuple": "()",
}
GLYPH_OPERATORS: dict[str, str] = {glyph: op for op, glyph in OPERATOR_GLYPHS.items()}
LEAF_GLYPHS = {"num": "#", "str": "'", "ref": "@", "attr": "."}
GLYPH_LEAVES = {glyph: op for op, glyph in LEAF_GLYPHS.items()}


def codex_to_photon_ast(tree: Node) -> PhotonAst:
    """The Photon tuple form of a Codex node (see the module table)."""
    op = tree.op
    bare = not tree.kw
    if op in LEAF_GLYPHS and bare and not tree.args and tree.value is not None:
        return (LEAF_GLYPHS[op], tree.value)
    if op == "bool" and bare and not tree.args and isinstance(tree.value, bool):
        return ("⊤",) if tree.value else ("⊥",)
    if op == "empty" and bare and not tree.args and tree.value is None:
        return ("∅",)
    if op in OPERATOR_GLYPHS and bare and tree.value is None:
        return (OPERATOR_GLYPHS[op], *(codex_to_photon_ast(a) for a in tree.args))
    if op == "call" and isinstance(tree.value, str):
        return ("ƒ", tree.value, _args(tree), _kw(tree))
    if op == "evolve" and bare and isinstance(tree.value, str) and len(tree.args) == 3:
        return ("⟲", tree.value, *(codex_to_photon_ast(a) for a in tree.args))
    return ("?", op, tree.value, _args(tree), _kw(tree))


def photon_to_codex_ast(ast: PhotonAst) -> Node:
    """The Codex node of a Photon tuple; inverse of ``codex_to_photon_ast``."""
    if not isinstance(ast, tuple) or not ast:
        raise ValueError(f"not a Photon AST node: {ast!r}")
    glyph = ast[0]
    if glyph in GLYPH_LEAVES and len(ast) == 2:
        return Node(GLYPH_LEAVES[glyph], value=ast[1])
    if glyph in ("⊤", "⊥") and len(ast) == 1:
        return Node("bool", value=glyph == "⊤")
    if glyph == "∅" and len(ast) == 1:
        return Node("empty")
    if glyph in GLYPH_OPERATORS:
        return Node(GLYPH_OPERATORS[glyph], args=tuple(photon_to_codex_ast(a) for a in ast[1:]))
    if glyph == "ƒ" and len(ast) == 4:
        return Node("call", args=_nodes(ast[2]), value=ast[1], kw=_kw_nodes(ast[3]))
    if glyph == "⟲" and len(ast) == 5:
        return Node("evolve", args=tuple(photon_to_codex_ast(a) for a in ast[2:]), value=ast[1])
    if glyph == "?" and len(ast) == 5:
        return Node(str(ast[1]), args=_nodes(ast[3]), value=ast[2], kw=_kw_nodes(ast[4]))
    raise ValueError(f"unknown Photon glyph {glyph!r} in {ast!r}")


def _args(tree: Node) -> tuple[PhotonAst, ...]:
    return tuple(codex_to_photon_ast(a) for a in tree.args)


def _kw(tree: Node) -> tuple[tuple[str, PhotonAst], ...]:
    return tuple((k, codex_to_photon_ast(v)) for k, v in tree.kw)


def _nodes(items: tuple[PhotonAst, ...]) -> tuple[Node, ...]:
    return tuple(photon_to_codex_ast(a) for a in items)


def _kw_nodes(items: tuple[tuple[str, PhotonAst], ...]) -> tuple[tuple[str, Node], ...]:
    return tuple((str(k), photon_to_codex_ast(v)) for k, v in items)
