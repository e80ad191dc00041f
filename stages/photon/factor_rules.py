"""Builders of the factoring rules: the extraction phase that turns expanded sums back into cheap forms.

They act on one ``add`` node whose operands are canonical terms and each lowers
the operand count, so applying them to a fixed point terminates:

* ``factor_linear``   c₁·L(a) + c₂·L(b) → L(c₁a + c₂b) for a linear operator L
  (one derivative instead of several), and c·∇u → ∇(c·u) (a scalar product
  instead of a vector one);
* ``factor_bilinear`` a⊗b + a⊗c → a⊗(b + c), likewise • and × on either side;
* ``factor_common``   a^k·X + a^k·Y + Z → a^k·(X + Y) + Z for the base shared by
  most operands (greedy Horner scheme);
* ``factor_numeric``  2a + 2b → 2·(a + b) when every coefficient has one magnitude.

All are exact (distributivity and linearity of the discrete operators).
"""

from __future__ import annotations

from stages.codex.ast import Node
from stages.photon.algebra import (
    Coeff,
    Factor,
    merge_factors,
    merge_terms,
    num,
    product_parts,
    render_product,
    render_sum,
    scaled,
    split_coefficient,
    sum_parts,
    term_sort_key,
)
from stages.photon.calculus_rules import BILINEAR_OPS, LINEAR_OPS
from stages.photon.context import RewriteContext
from stages.photon.patterns import Bindings


def _rebuild(node: Node, parts: list[Node], ctx: RewriteContext) -> Node:
    ordered = sorted(parts, key=lambda p: term_sort_key(p, ctx.keys))
    return ordered[0] if len(ordered) == 1 else node.replace(args=tuple(ordered))


def _single_operator_term(term: Node) -> tuple[Coeff, Node] | None:
    """(c, op-node) when the term is c·op(...) for one operator application."""
    coeff, rest = split_coefficient(term)
    if rest is None or rest.op == "mul":
        return None
    return coeff, rest


def _combine(pairs: list[tuple[Coeff, Node]], ctx: RewriteContext) -> Node | None:
    """Σ cᵢ·nodeᵢ as one canonical sum (nested sums flattened, like terms merged); None if it is 0."""
    terms: list[tuple[Coeff, Node]] = []
    constant: Coeff = 0
    for coeff, node in pairs:
        node_terms, node_constant, had_empty = sum_parts(node)
        if had_empty:
            return None
        terms.extend((coeff * c, atom) for c, atom in node_terms)
        constant += coeff * node_constant
    return render_sum(merge_terms(terms, ctx.keys), constant)


def _size(ctx: RewriteContext, node: Node) -> int:
    return ctx.kind(node).components or 1


def _some_term_applies(node: Node, ops: tuple[str, ...]) -> bool:
    """Whether an operand is c·op(...) for one of ``ops`` (looking through products and negations,
    as ``split_coefficient`` does): a quick necessary condition before the full grouping."""
    stack = list(node.args)
    while stack:
        term = stack.pop()
        if term.op in ops:
            return True
        if term.op in ("mul", "neg"):
            stack.extend(term.args)
    return False


def factor_linear(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """Σ cᵢ·L(aᵢ) → L(Σ cᵢ·aᵢ) over the operands sharing one linear operator (and ⧖ step)."""
    if not _some_term_applies(node, LINEAR_OPS):
        return None
    groups: dict[str, list[int]] = {}
    split: list[tuple[Coeff, Node] | None] = []
    for index, term in enumerate(node.args):
        found = _single_operator_term(term)
        split.append(found)
        if found is None or found[1].op not in LINEAR_OPS:
            continue
        coeff, applied = found
        key = applied.op + "|" + "|".join(ctx.keys.text(a) for a in applied.args[1:])
        layout = ctx.kind(applied.args[0]).layout()
        groups.setdefault(key + "|" + repr(layout), []).append(index)
    for members in groups.values():
        first = split[members[0]]
        assert first is not None
        op_node = first[1]
        if len(members) == 1:
            coeff = first[0]
            arg = op_node.args[0]
            if coeff in (1, -1) or _size(ctx, arg) >= _size(ctx, op_node):
                continue
        inner_terms = []
        for index in members:
            entry = split[index]
            assert entry is not None
            inner_terms.append((entry[0], entry[1].args[0]))
        inner = _combine(inner_terms, ctx)
        if inner is None:
            continue
        merged = op_node.replace(args=(inner, *op_node.args[1:]))
        rest = [t for i, t in enumerate(node.args) if i not in members]
        return _rebuild(node, [*rest, merged], ctx)
    return None


def factor_bilinear(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """a⊗b + a⊗c → a⊗(b + c) (and b⊗a + c⊗a → (b + c)⊗a; • and × likewise): the largest group first."""
    if not _some_term_applies(node, BILINEAR_OPS):
        return None
    groups: dict[tuple[str, int, str], list[tuple[int, Coeff, Node]]] = {}
    for index, term in enumerate(node.args):
        found = _single_operator_term(term)
        if found is None or found[1].op not in BILINEAR_OPS or len(found[1].args) != 2:
            continue
        coeff, applied = found
        left, right = applied.args
        groups.setdefault((applied.op, 0, ctx.keys.text(left)), []).append((index, coeff, right))
        groups.setdefault((applied.op, 1, ctx.keys.text(right)), []).append((index, coeff, left))
    best = max(
        (g for g in groups.items() if len(g[1]) >= 2),
        key=lambda g: (len(g[1]), g[0][1] == 0, g[0][2]),
        default=None,
    )
    if best is None:
        return None
    (op, side, _text), members = best
    shared_term = _single_operator_term(node.args[members[0][0]])
    assert shared_term is not None
    shared = shared_term[1].args[side]
    inner = _combine([(c, partner) for _, c, partner in members], ctx)
    if inner is None:
        return None
    pair = (shared, inner) if side == 0 else (inner, shared)
    merged = Node(op, args=pair)
    used = {index for index, _, _ in members}
    rest = [t for i, t in enumerate(node.args) if i not in used]
    return _rebuild(node, [*rest, merged], ctx)


def factor_common(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """Pull the base shared by the most operands out of them: a·b + a·c + d → a·(b + c) + d."""
    raw = [product_parts(term) for term in node.args]
    # Quick necessary condition before merging and sorting every term: some base is in two terms.
    seen: set[str] = set()
    shared = False
    for _coeff, factors in raw:
        texts = {ctx.keys.text(base) for base, _exp in factors}
        if not seen.isdisjoint(texts):
            shared = True
            break
        seen |= texts
    if not shared:
        return None
    parts: list[tuple[Coeff, list[Factor]]] = [
        (coeff, merge_factors(factors, ctx.keys)) for coeff, factors in raw
    ]
    counts: dict[str, list[int]] = {}
    bases: dict[str, Node] = {}
    for index, (_coeff, factors) in enumerate(parts):
        for base, _exp in factors:
            text = ctx.keys.text(base)
            counts.setdefault(text, []).append(index)
            bases[text] = base
    candidates = [(-len(m), ctx.keys.sort_key(bases[text]), text) for text, m in counts.items() if len(m) >= 2]
    if not candidates:
        return None
    text = min(candidates)[2]
    members = counts[text]
    base = bases[text]
    power = min(exp for i in members for b, exp in parts[i][1] if ctx.keys.text(b) == text)
    quotient: list[Node] = []
    for index in members:
        coeff, factors = parts[index]
        remaining: list[Factor] = []
        for b, exp in factors:
            if ctx.keys.text(b) == text:
                if exp > power:
                    remaining.append((b, exp - power))
            else:
                remaining.append((b, exp))
        quotient.append(render_product(coeff, remaining))
    inner = _rebuild(Node("add"), quotient, ctx)
    merged = render_product(1, merge_factors([(base, power), (inner, 1)], ctx.keys))
    rest = [t for i, t in enumerate(node.args) if i not in members]
    return _rebuild(node, [*rest, merged], ctx) if rest else merged


def factor_numeric(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """c·a + c·b − c·d → c·(a + b − d) when every operand's coefficient has magnitude |c| ≠ 1."""
    split = [split_coefficient(term) for term in node.args]
    magnitudes = {abs(c) for c, _ in split}
    if len(magnitudes) != 1 or len(split) < 2:
        return None
    scale = magnitudes.pop()
    if scale in (0, 1):
        return None
    inner_parts = [scaled(c / scale, rest) if rest is not None else num(c / scale) for c, rest in split]
    inner = _rebuild(node, inner_parts, ctx)
    return Node("mul", args=(num(scale), inner))


def subtract_negatives(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """a + b + ¬c + (−2)·d → (a + b) − (c + 2d); all negative → ¬(c + 2d) (one negation, not many)."""
    positive: list[Node] = []
    negative: list[Node] = []
    for term in node.args:
        coeff, rest = split_coefficient(term)
        if coeff < 0:
            negative.append(scaled(-coeff, rest) if rest is not None else num(-coeff))
        else:
            positive.append(term)
    if not negative:
        return None
    subtrahend = _rebuild(Node("add"), negative, ctx)
    if not positive:
        return Node("neg", args=(subtrahend,)) if len(negative) > 1 else None
    return Node("sub", args=(_rebuild(node, positive, ctx), subtrahend))


MAX_PRODUCT_POWER = 4


def pow_as_product(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x² → x·x, and x^n → x·x·…·x for a named field x and n ≤ 4: n−1 products instead of a power
    (the Codex cost model prices ^ at ``transcendental_flops`` per entry); same value to rounding."""
    from stages.photon.algebra import positive_int_exponent

    base, exponent = node.args
    n = positive_int_exponent(exponent)
    # A square of anything (its base is shared, computed once); higher powers only of names, so the
    # tree does not grow by copies of a compound base.
    if n is None or not 2 <= n <= MAX_PRODUCT_POWER or (n > 2 and base.op != "ref"):
        return None
    return Node("mul", args=(base,) * n)


def ominus_from_oplus(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """⊕(a, b, ¬c) → (a + b) ⊖ c: the same normalised difference without negating c first;
    ⊕(¬a, ¬b) → ¬(a ⊕ b)."""
    positive: list[Node] = []
    negative: list[Node] = []
    for term in node.args:
        coeff, rest = split_coefficient(term)
        if coeff < 0:
            negative.append(scaled(-coeff, rest) if rest is not None else num(-coeff))
        else:
            positive.append(term)
    if not negative:
        return None
    if not positive:
        # ⊕(¬a, ¬b) → ¬(a ⊕ b): one negation instead of one per operand.
        return Node("neg", args=(node.replace(args=tuple(negative)),)) if len(negative) > 1 else None
    minuend = _rebuild(Node("add"), positive, ctx)
    subtrahend = _rebuild(Node("add"), negative, ctx)
    return Node("ominus", args=(minuend, subtrahend))
