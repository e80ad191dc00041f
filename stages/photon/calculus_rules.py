"""Builders of the field-operator rules: ∅ propagation, linearity, bilinear products, product rule.

The finite-difference operators of the interpreter (``stages.codex.operators``)
are linear maps for every boundary rule (periodic roll, Dirichlet zero ghosts,
Neumann mirror ghosts are all linear), so linearity is exact. What differs by
boundary is what a *constant* does: its differences vanish on periodic and
Neumann grids but not at a Dirichlet edge, so constants are only dropped where
that holds. The product rule holds for central differences only up to O(h²)
and is a continuum rule (periodic grids only, where the error is smooth).
"""

from __future__ import annotations

from stages.codex.ast import EMPTY, Node
from stages.photon.algebra import (
    Coeff,
    merge_factors,
    product_parts,
    render_product,
    scaled,
    split_coefficient,
    sum_parts,
)
from stages.photon.context import MAX_EXPANDED_TERMS, RewriteContext
from stages.photon.patterns import Bindings

LINEAR_OPS = ("grad", "div", "curl", "lap", "dalembert", "ddt", "delay")
SPATIAL_OPS = frozenset({"grad", "div", "curl", "lap"})
BILINEAR_OPS = ("outer", "dot", "cross")


def apply_op(op: str, arg: Node, extra: tuple[Node, ...] = ()) -> Node:
    return Node(op, args=(arg, *extra))


def structural_of_empty(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """L(∅) → ∅ for ∇ ∇· ∇× Δ □ d/dt ⧖, and ∅ ⊗ x, ∅ • x, ∅ × x → ∅ (the interpreter returns ∅)."""
    if node.op in LINEAR_OPS and node.args and node.args[0].op == "empty":
        return EMPTY
    if node.op in BILINEAR_OPS and len(node.args) == 2 and any(a.op == "empty" for a in node.args):
        other = node.args[1] if node.args[0].op == "empty" else node.args[0]
        return EMPTY if ctx.kind(other).is_field else None
    return None


def _constant_is_annihilated(op: str, ctx: RewriteContext) -> bool:
    if op in SPATIAL_OPS:
        return ctx.constants_have_zero_derivative
    if op == "ddt":
        return True  # one-sided and central time differences of a constant are 0
    if op == "dalembert":
        return ctx.constants_have_zero_derivative
    return False  # delay shifts in zeros: a constant is not preserved


def linearity(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """L(Σ cᵢ·uᵢ) → Σ cᵢ·L(uᵢ) for the linear operators ∇ ∇· ∇× Δ □ d/dt ⧖ (exact).

    Every field term must have the argument's own layout (so no term relies on
    being broadcast into it); a constant term is dropped only where the
    operator's differences of a constant vanish.
    """
    arg = node.args[0]
    extra = node.args[1:]
    if arg.op not in ("add", "mul", "neg"):
        return None
    terms, constant, had_empty = sum_parts(arg)
    if had_empty or not terms:
        return None
    if len(terms) == 1 and terms[0][0] == 1:
        return None
    if constant != 0 and not _constant_is_annihilated(node.op, ctx):
        return None
    arg_kind = ctx.kind(arg)
    if not arg_kind.is_field or any(ctx.kind(atom).layout() != arg_kind.layout() for _, atom in terms):
        return None
    parts = [scaled(c, apply_op(node.op, atom, extra)) for c, atom in terms]
    return parts[0] if len(parts) == 1 else Node("add", args=tuple(parts))


def div_grad_condition(node: Node, _: Bindings, ctx: RewriteContext) -> bool:
    return ctx.periodic


def div_curl_condition(node: Node, _: Bindings, ctx: RewriteContext) -> bool:
    return ctx.grid.rank == 3


def curl_grad_condition(node: Node, _: Bindings, ctx: RewriteContext) -> bool:
    return ctx.grid.rank in (2, 3) and ctx.kind(node).is_field


def outer_number_as_mul(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """c ⊗ x → c * x: with a number operand ⊗ is the elementwise product (interpreter rule)."""
    if not any(ctx.kind(a).is_number for a in node.args):
        return None
    return Node("mul", args=node.args)


def bilinear_scale(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """(c·a) ∘ (d·b) → (c·d)·(a ∘ b) for ⊗ • × (bilinear; signs included)."""
    if node.op not in BILINEAR_OPS or len(node.args) != 2:
        return None
    coeffs: list[Coeff] = []
    rests: list[Node] = []
    for arg in node.args:
        coeff, rest = split_coefficient(arg)
        if rest is None:
            return None
        coeffs.append(coeff)
        rests.append(rest)
    total = coeffs[0] * coeffs[1]
    if coeffs == [1, 1]:
        return None
    return scaled(total, node.replace(args=tuple(rests)))


def sort_dot(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """b • a → a • b (commutative: Σ b_c a_c = Σ a_c b_c exactly)."""
    a, b = node.args
    if ctx.keys.sort_key(a) <= ctx.keys.sort_key(b):
        return None
    return node.replace(args=(b, a))


def sort_cross(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """b × a → ¬(a × b) (anti-commutative, exactly)."""
    a, b = node.args
    if ctx.keys.sort_key(a) <= ctx.keys.sort_key(b):
        return None
    return Node("neg", args=(node.replace(args=(b, a)),))


def distribute_bilinear(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """(a + b) ⊗ c → a⊗c + b⊗c for ⊗ • × (expanded form; bounded by MAX_EXPANDED_TERMS)."""
    if node.op not in BILINEAR_OPS or len(node.args) != 2 or not any(a.op == "add" for a in node.args):
        return None
    sides: list[list[tuple[Coeff, Node]]] = []
    for arg in node.args:
        terms: list[tuple[Coeff, Node]] = [(1, arg)]
        if arg.op == "add":
            terms, constant, had_empty = sum_parts(arg)
            if had_empty or constant != 0:
                return None
        sides.append(terms)
    if len(sides[0]) * len(sides[1]) > MAX_EXPANDED_TERMS:
        return None
    parts = [scaled(c * d, node.replace(args=(a, b))) for c, a in sides[0] for d, b in sides[1]]
    return Node("add", args=tuple(parts))


def product_rule(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """∇(f·g) → f∇g + g∇f, ∇(fⁿ) → n·fⁿ⁻¹∇f (continuum: central differences agree to O(h²))."""
    arg = node.args[0]
    if arg.op not in ("mul", "pow") or not ctx.periodic:
        return None
    coeff, factors = product_parts(arg)
    merged = merge_factors(factors, ctx.keys)
    if len(merged) < 2 and not (merged and merged[0][1] > 1):
        return None
    if any(not ctx.kind(base).is_field or ctx.kind(base).components is not None for base, _ in merged):
        return None
    if len(merged) > MAX_EXPANDED_TERMS:
        return None
    parts: list[Node] = []
    for index, (base, exponent) in enumerate(merged):
        rest = [(b, e) for j, (b, e) in enumerate(merged) if j != index]
        if exponent > 1:
            rest.append((base, exponent - 1))
        rest = merge_factors(rest, ctx.keys)
        factor = coeff * exponent
        gradient = Node("grad", args=(base,))
        product = render_product(1, rest) if rest else None
        body = gradient if product is None else Node("mul", args=(product, gradient))
        parts.append(scaled(factor, body) if factor != 1 else body)
    return parts[0] if len(parts) == 1 else Node("add", args=tuple(parts))
