"""Sums and products as coefficient tables: the canonical shapes of additive and multiplicative terms.

An additive cluster (``add``/``sub``/``neg``/numeric multiples) is read as
Σ cᵢ·atomᵢ + constant; a product (``mul``/``neg``/integer ``pow``/division by a
number) as c · Π atomⱼ^eⱼ. Both are written back in one canonical shape:

* sum: the constant first, then terms ordered by their atom's sort key; a term
  is ``atom`` (c = 1), ``neg(atom)`` (c = −1) or ``mul(num c, factors…)``;
* product: ``mul(num c, factors…)`` with factors ordered by their base's sort
  key, repeated bases as ``pow(base, n)``; c = 1 drops the number, c = −1 is
  ``neg(mul(…))``.

The sorting rules of ``rules.py`` and the expansion/factoring code all use these
functions, so every route to a sum or product lands on the same tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from stages.codex.ast import Node
from stages.photon.terms import KeyCache, canonical_number

Coeff = int | float
Term = tuple[Coeff, Node]
Factor = tuple[Node, int]

ONE = Node("num", value=1)


def is_number(node: Node) -> bool:
    return node.op == "num" and isinstance(node.value, int | float) and not isinstance(node.value, bool)


def number_value(node: Node) -> Coeff:
    value = node.value
    assert isinstance(value, int | float) and not isinstance(value, bool)
    return value


def num(value: Coeff) -> Node:
    return Node("num", value=canonical_number(value))


def positive_int_exponent(node: Node) -> int | None:
    """n when ``node`` is the literal of an integer ≥ 1, else None."""
    if not is_number(node):
        return None
    value = number_value(node)
    if float(value).is_integer() and 1 <= value <= 64:
        return int(value)
    return None


def finite(value: float) -> bool:
    return math.isfinite(value)


# --- products ----------------------------------------------------------------------------------

def product_parts(node: Node) -> tuple[Coeff, list[Factor]]:
    """(c, [(base, exponent)]) with node = c · Π base^exponent (bases unmerged, in order)."""
    coeff: Coeff = 1
    factors: list[Factor] = []
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, power = stack.pop()
        if is_number(current):
            coeff = coeff * number_value(current) ** power
        elif current.op == "mul":
            stack.extend((arg, power) for arg in reversed(current.args))
        elif current.op == "neg" and len(current.args) == 1:
            coeff = -coeff if power % 2 else coeff
            stack.append((current.args[0], power))
        elif current.op == "pow" and len(current.args) == 2 and positive_int_exponent(current.args[1]):
            exponent = positive_int_exponent(current.args[1]) or 1
            base = current.args[0]
            if base.op in ("mul", "neg") or is_number(base):
                factors.append((current, power))
            else:
                factors.append((base, exponent * power))
        elif (
            current.op == "truediv" and len(current.args) == 2 and power == 1
            and is_number(current.args[1]) and number_value(current.args[1]) != 0
        ):
            coeff = coeff / number_value(current.args[1])
            stack.append((current.args[0], 1))
        else:
            factors.append((current, power))
    return coeff, factors


def merge_factors(factors: Iterable[Factor], keys: KeyCache) -> list[Factor]:
    """Repeated bases merged (exponents added), ordered by the base's sort key."""
    merged: dict[str, Factor] = {}
    for base, exponent in factors:
        text = keys.text(base)
        previous = merged.get(text)
        merged[text] = (base, exponent + (previous[1] if previous else 0))
    return sorted(merged.values(), key=lambda f: keys.sort_key(f[0]))


def factor_node(base: Node, exponent: int) -> Node:
    return base if exponent == 1 else Node("pow", args=(base, num(exponent)))


def factor_sort_key(node: Node, keys: KeyCache) -> tuple[int, str]:
    """Order of a product's operands: numbers first, then by base (so u, u², v sort u², v)."""
    if node.op == "pow" and len(node.args) == 2 and positive_int_exponent(node.args[1]):
        base = node.args[0]
        if not (base.op in ("mul", "neg") or is_number(base)):
            return keys.sort_key(base)
    return keys.sort_key(node)


def render_product(coeff: Coeff, factors: list[Factor]) -> Node:
    """c · Π factors in canonical shape (factors already merged and ordered); c must be non-zero."""
    parts = [factor_node(base, exponent) for base, exponent in factors]
    if not parts:
        return num(coeff)
    if coeff == 1:
        return parts[0] if len(parts) == 1 else Node("mul", args=tuple(parts))
    if coeff == -1:
        body = parts[0] if len(parts) == 1 else Node("mul", args=tuple(parts))
        return Node("neg", args=(body,))
    return Node("mul", args=(num(coeff), *parts))


# --- sums --------------------------------------------------------------------------------------

def sum_parts(node: Node) -> tuple[list[Term], Coeff, bool]:
    """(terms, constant, had_empty): node = constant + Σ cᵢ·atomᵢ (+ ∅), terms unmerged.

    A term's atom is the product without its numeric coefficient (``2·u·v`` → (2, u·v)).
    """
    terms: list[Term] = []
    constant: Coeff = 0
    had_empty = False
    stack: list[tuple[Coeff, Node]] = [(1, node)]
    while stack:
        coeff, current = stack.pop()
        if is_number(current):
            constant = constant + coeff * number_value(current)
        elif current.op == "empty":
            had_empty = True
        elif current.op == "add":
            stack.extend((coeff, arg) for arg in reversed(current.args))
        elif current.op == "sub" and len(current.args) == 2:
            stack.append((-coeff, current.args[1]))
            stack.append((coeff, current.args[0]))
        elif current.op == "neg" and len(current.args) == 1:
            stack.append((-coeff, current.args[0]))
        elif current.op == "mul" and any(is_number(a) or a.op == "neg" for a in current.args):
            inner, atom = split_coefficient(current)
            if atom is None:
                constant = constant + coeff * inner
            else:
                terms.append((coeff * inner, atom))
        else:
            terms.append((coeff, current))
    return terms, constant, had_empty


def split_coefficient(node: Node) -> tuple[Coeff, Node | None]:
    """(c, rest) with node = c·rest for a product; rest None when the product is a pure number."""
    if node.op == "neg" and len(node.args) == 1:
        inner, remainder = split_coefficient(node.args[0])
        return -inner, remainder
    if node.op != "mul":
        return (number_value(node), None) if is_number(node) else (1, node)
    coeff: Coeff = 1
    rest: list[Node] = []
    for arg in node.args:
        if is_number(arg):
            coeff = coeff * number_value(arg)
        elif arg.op == "neg" and len(arg.args) == 1:
            coeff = -coeff
            rest.append(arg.args[0])
        else:
            rest.append(arg)
    if not rest:
        return coeff, None
    return coeff, rest[0] if len(rest) == 1 else Node("mul", args=tuple(rest))


def merge_terms(terms: Iterable[Term], keys: KeyCache) -> list[Term]:
    """Like atoms merged (coefficients added), zero coefficients dropped, ordered by atom."""
    merged: dict[str, Term] = {}
    for coeff, atom in terms:
        text = keys.text(atom)
        previous = merged.get(text)
        merged[text] = ((previous[0] if previous else 0) + coeff, atom)
    kept = [term for term in merged.values() if term[0] != 0]
    return sorted(kept, key=lambda t: keys.sort_key(t[1]))


def scaled(coeff: Coeff, atom: Node) -> Node:
    """The term c·atom in canonical shape."""
    if coeff == 1:
        return atom
    if coeff == -1:
        return Node("neg", args=(atom,))
    factors = atom.args if atom.op == "mul" else (atom,)
    return Node("mul", args=(num(coeff), *factors))


def render_sum(terms: list[Term], constant: Coeff) -> Node | None:
    """constant + Σ terms in canonical shape (terms merged and ordered); None when it is all zero."""
    parts = ([num(constant)] if constant != 0 else []) + [scaled(c, atom) for c, atom in terms]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Node("add", args=tuple(parts))


def term_sort_key(node: Node, keys: KeyCache) -> tuple[int, tuple[int, str], str]:
    """Order of a sum's operands: the constant first, then by atom, then by the whole term."""
    if is_number(node):
        return (0, (0, ""), keys.text(node))
    _, atom = split_coefficient(node)
    return (1, keys.sort_key(atom if atom is not None else node), keys.text(node))
