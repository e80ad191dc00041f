"""Builders of the arithmetic rules (+ * / ^ ¬ and constant folding).

A builder gets the matched node, the pattern bindings and the context, and
returns the replacement or None (the rule does not apply). Builders never change
a value beyond rounding: every one states the identity it implements, and the
ones that produce ∅ or 0 check the operand kinds first (∅ is a field; 0 is a
number), so a number never turns into a field or back.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from stages.codex.ast import EMPTY, Node
from stages.photon.algebra import (
    Coeff,
    factor_sort_key,
    is_number,
    merge_factors,
    merge_terms,
    num,
    number_value,
    positive_int_exponent,
    product_parts,
    render_product,
    render_sum,
    scaled,
    split_coefficient,
    sum_parts,
    term_sort_key,
)
from stages.photon.context import MAX_EXPANDED_TERMS, RewriteContext
from stages.photon.kinds import joint
from stages.photon.patterns import Bindings

FOLDABLE_CALLS: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
}


def _float_result(fn: Callable[[], float | complex]) -> float | None:
    """The float ``fn`` computes, or None when it fails, is complex or is not finite (left unfolded)."""
    try:
        value = fn()
    except (ArithmeticError, ValueError):
        return None
    if isinstance(value, complex) or not math.isfinite(value):
        return None
    return float(value)


def fold_constants(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """An operator applied to number literals only → its value (float64, as the interpreter computes)."""
    if not node.args or not all(is_number(a) for a in node.args) or node.kw:
        return None
    values = [float(number_value(a)) for a in node.args]
    op = node.op
    result: float | None
    if op == "add":
        result = _float_result(lambda: _chain(values, lambda a, b: a + b))
    elif op == "mul":
        result = _float_result(lambda: _chain(values, lambda a, b: a * b))
    elif op == "sub" and len(values) == 2:
        result = _float_result(lambda: values[0] - values[1])
    elif op == "truediv" and len(values) == 2:
        result = _float_result(lambda: values[0] / values[1])
    elif op == "pow" and len(values) == 2:
        result = _float_result(lambda: values[0] ** values[1])
    elif op == "neg" and len(values) == 1:
        result = -values[0]
    elif op == "call" and str(node.value) in FOLDABLE_CALLS and len(values) == 1:
        fn = FOLDABLE_CALLS[str(node.value)]
        result = _float_result(lambda: fn(values[0]))
    else:
        return None
    return None if result is None else num(result)


def _chain(values: list[float], fn: Callable[[float, float], float]) -> float:
    # Left to right, like the interpreter's functools.reduce over the operands.
    total = values[0]
    for value in values[1:]:
        total = fn(total, value)
    return total


def fold_pi(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """``pi`` → its float value (the interpreter's float(np.pi)), unless an evolve rebinds the name."""
    return None if "pi" in ctx.evolve_vars else num(math.pi)


def positive_number(node: Node) -> bool:
    return is_number(node) and number_value(node) > 0


def zero_like(node: Node, ctx: RewriteContext) -> Node | None:
    """The zero of ``node``'s kind: 0 for a number, ∅ for a field, None otherwise."""
    kind = ctx.kind(node)
    if kind.is_number:
        return num(0)
    if kind.is_field:
        return EMPTY
    return None


# --- sums ---------------------------------------------------------------------------------------

def flatten(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """(a ∘ b) ∘ c → ∘(a, b, c) for the associative n-ary + and *."""
    if not any(a.op == node.op for a in node.args):
        return None
    args: list[Node] = []
    for arg in node.args:
        args.extend(arg.args if arg.op == node.op else (arg,))
    return node.replace(args=tuple(args))


def add_zero(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x + 0 → x (a number 0 never changes a sum's kind)."""
    kept = [a for a in node.args if not (is_number(a) and number_value(a) == 0)]
    if len(kept) == len(node.args) or not kept:
        return None
    return kept[0] if len(kept) == 1 else node.replace(args=tuple(kept))


def add_empty(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x + ∅ → x when another operand is a field (∅ broadcasts to its layout; adding 0 is exact)."""
    kept = [a for a in node.args if a.op != "empty"]
    if len(kept) == len(node.args) or not kept:
        return None
    if not any(ctx.kind(a).is_field for a in kept):
        return None
    return kept[0] if len(kept) == 1 else node.replace(args=tuple(kept))


def collect_like_terms(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """a + a → 2a, 2a − 3a → −a, a − a → 0/∅, 1 + 2 + u → 3 + u (coefficients add)."""
    if _nothing_to_collect(node, ctx):
        return None
    terms, constant, had_empty = sum_parts(node)
    merged = merge_terms(terms, ctx.keys)
    rendered = render_sum(merged, constant)
    if rendered is None:
        return zero_like(node, ctx)
    if is_number(rendered) and not ctx.kind(node).is_number:
        if not ctx.kind(node).is_field:
            return None
        # u − u + 2 is the constant field 2: keep a ∅ so the sum stays a field.
        rendered = Node("add", args=(rendered, EMPTY))
    elif had_empty:
        return None
    # A difference in operand order alone is sort_add's business, not a collection.
    in_order = node.replace(args=tuple(sorted(node.args, key=lambda a: term_sort_key(a, ctx.keys))))
    return None if rendered == in_order else rendered


def _nothing_to_collect(node: Node, ctx: RewriteContext) -> bool:
    """Fast check: flat operands, at most one constant, distinct atoms, no zero coefficient."""
    seen: set[str] = set()
    constants = 0
    for arg in node.args:
        if arg.op in ("add", "sub", "empty") or (arg.op == "neg" and arg.args and arg.args[0].op in ("add", "sub")):
            return False
        coeff, atom = split_coefficient(arg)
        if atom is None:
            constants += 1
            if constants > 1 or coeff == 0:
                return False
            continue
        if coeff == 0 or atom.op in ("add", "sub"):
            return False
        text = ctx.keys.text(atom)
        if text in seen:
            return False
        seen.add(text)
    return True


def sort_sum(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """Operands of a commutative sum (+, and the operands of one ⊕) in canonical order."""
    ordered = tuple(sorted(node.args, key=lambda a: term_sort_key(a, ctx.keys)))
    return None if ordered == node.args else node.replace(args=ordered)


def single_operand(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """+(x) → x, *(x) → x."""
    return node.args[0] if len(node.args) == 1 else None


# --- products -----------------------------------------------------------------------------------

def mul_empty(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x * ∅ → ∅ (annihilator; exact for finite x)."""
    if not any(a.op == "empty" for a in node.args) or not ctx.kind(node).is_field:
        return None
    return EMPTY


def mul_zero(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x * 0 → 0 for numbers, ∅ for fields (annihilator; exact for finite x)."""
    if not any(is_number(a) and number_value(a) == 0 for a in node.args):
        return None
    return zero_like(node, ctx)


def neg_factor_out(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """a * ¬b → (−1) * a * b: signs move into the numeric coefficient."""
    if not any(a.op == "neg" and len(a.args) == 1 for a in node.args):
        return None
    sign = 1
    args: list[Node] = []
    for arg in node.args:
        if arg.op == "neg" and len(arg.args) == 1:
            sign = -sign
            args.append(arg.args[0])
        else:
            args.append(arg)
    return node.replace(args=(num(sign), *args))


def fold_coefficients(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """2 * u * 3 → 6 * u: the numeric factors of a product multiply into one leading coefficient."""
    numbers = [a for a in node.args if is_number(a)]
    if len(numbers) < 2:
        return None
    coeff = 1.0
    for n in numbers:
        coeff *= float(number_value(n))
    if not math.isfinite(coeff):
        return None
    rest = [a for a in node.args if not is_number(a)]
    return node.replace(args=(num(coeff), *rest))


def mul_one(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x * 1 → x."""
    kept = [a for a in node.args if not (is_number(a) and number_value(a) == 1)]
    if len(kept) == len(node.args) or not kept:
        return None
    return kept[0] if len(kept) == 1 else node.replace(args=tuple(kept))


def mul_minus_one(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """(−1) * x → ¬x (a sign is a negation, not a multiplication)."""
    if len(node.args) < 2 or not (is_number(node.args[0]) and number_value(node.args[0]) == -1):
        return None
    rest = node.args[1:]
    return Node("neg", args=(rest[0] if len(rest) == 1 else node.replace(args=rest),))


def merge_powers(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """u * u → u², u² * u → u³ (integer exponents only, so no value changes sign or domain)."""
    coeff, factors = product_parts(node)
    if coeff == 0 or not _repeated_base(factors, ctx):
        return None
    return render_product(coeff, merge_factors(factors, ctx.keys))


def _repeated_base(factors: list[tuple[Node, int]], ctx: RewriteContext) -> bool:
    """Whether two factors share a base (what merging would merge), without sorting anything."""
    seen: set[str] = set()
    for base, _exponent in factors:
        text = ctx.keys.text(base)
        if text in seen:
            return True
        seen.add(text)
    return False


def sort_product(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """Factors of a product in canonical order (elementwise * is commutative)."""
    ordered = tuple(sorted(node.args, key=lambda a: factor_sort_key(a, ctx.keys)))
    return None if ordered == node.args else node.replace(args=ordered)


def neg_into_coefficient(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """¬(c * x) → (−c) * x."""
    inner = node.args[0]
    if inner.op != "mul" or not inner.args or not is_number(inner.args[0]):
        return None
    return inner.replace(args=(num(-number_value(inner.args[0])), *inner.args[1:]))


def neg_distribute(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """¬(a + b − c) → ¬a + ¬b + c (expanded form: the sign joins each term's coefficient)."""
    inner = node.args[0]
    if inner.op != "add":
        return None
    return Node("add", args=tuple(Node("neg", args=(a,)) for a in inner.args))


def div_by_constant(node: Node, bindings: Bindings, ctx: RewriteContext) -> Node | None:
    """x / c → (1/c) * x for a non-zero number c (x / 1 → x)."""
    divisor = bindings["c"]
    value = float(number_value(divisor))
    if value == 0 or not math.isfinite(1.0 / value):
        return None
    if value == 1:
        return bindings["x"]
    return Node("mul", args=(num(1.0 / value), bindings["x"]))


def pow_pow(node: Node, bindings: Bindings, ctx: RewriteContext) -> Node | None:
    """(x^m)^n → x^(m·n) for integers m, n ≥ 1."""
    m, n = positive_int_exponent(bindings["m"]), positive_int_exponent(bindings["n"])
    if m is None or n is None or m * n > 64:
        return None
    return Node("pow", args=(bindings["x"], num(m * n)))


def constant_field_value(node: Node) -> Node | None:
    """k when ``node`` is the constant field k + ∅ (how a sum that collapsed to a number stays a field)."""
    if node.op != "add" or len(node.args) != 2:
        return None
    first, second = node.args
    if is_number(first) and second.op == "empty":
        return first
    if is_number(second) and first.op == "empty":
        return second
    return None


def mul_constant_field(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """u·(k + ∅) → u·k when another operand is a field: the product is a field without the ∅."""
    constants = [i for i, a in enumerate(node.args) if constant_field_value(a) is not None]
    if not constants:
        return None
    other_field = any(ctx.kind(a).is_field for i, a in enumerate(node.args) if i not in constants)
    dropped = set(constants if other_field else constants[1:])
    if not dropped:
        return None
    args = [constant_field_value(a) if i in dropped else a for i, a in enumerate(node.args)]
    return node.replace(args=tuple(a for a in args if a is not None))


def pow_constant_field(node: Node, bindings: Bindings, ctx: RewriteContext) -> Node | None:
    """(k + ∅)ⁿ → kⁿ + ∅: the power of a constant field is the constant field of the power."""
    value = constant_field_value(bindings["x"])
    exponent = bindings["n"]
    if value is None:
        return None
    folded = _float_result(lambda: float(number_value(value)) ** float(number_value(exponent)))
    if folded is None:
        return None
    return Node("add", args=(num(folded), EMPTY))


# --- expansion (group "expand") ------------------------------------------------------------------

def _additive(node: Node) -> tuple[list[tuple[Coeff, Node]], bool]:
    terms, constant, had_empty = sum_parts(node)
    if constant != 0:
        terms = [(constant, num(1)), *terms]
    return terms, had_empty


def distribute_mul_over_add(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """a * (b + c) → a*b + a*c (expanded polynomial form; bounded by MAX_EXPANDED_TERMS)."""
    if not any(a.op == "add" for a in node.args):
        return None
    expansions: list[list[tuple[Coeff, list[Node]]]] = [[(1, [])]]
    for arg in node.args:
        terms, had_empty = _additive(arg) if arg.op == "add" else ([(1, arg)], False)
        if had_empty:
            return None
        grown = [(c0 * c1, [*f0, atom]) for c0, f0 in expansions[-1] for c1, atom in terms]
        if len(grown) > MAX_EXPANDED_TERMS:
            return None
        expansions.append(grown)
    parts = [scaled(c, Node("mul", args=tuple(f)) if len(f) > 1 else f[0]) for c, f in expansions[-1]]
    return Node("add", args=tuple(parts))


def expand_power(node: Node, bindings: Bindings, ctx: RewriteContext) -> Node | None:
    """(a + b)^n → the expanded product, for n ≤ 4 and a bounded number of terms."""
    n = positive_int_exponent(bindings["n"])
    base = bindings["x"]
    if n is None or n < 2 or n > 4 or base.op != "add":
        return None
    terms, had_empty = _additive(base)
    if had_empty or len(terms) ** n > MAX_EXPANDED_TERMS:
        return None
    return Node("mul", args=(base,) * n)


def kinds_agree(node: Node, ctx: RewriteContext) -> bool:
    """The operands of an elementwise node have one joint kind that is not ``other``."""
    return joint([ctx.kind(a) for a in node.args]).base != "other"


def oplus_empty(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """x ⊕ ∅ is x/‖x‖, not x: ∅ operands are dropped only while two others remain; y ⊕ ∅ → y when
    y is itself a ⊕ result (already unit norm, or ∅-valued); ∅ ⊕ ∅ → ∅ (normalising 0 gives 0)."""
    kept = [a for a in node.args if a.op != "empty"]
    if len(kept) == len(node.args):
        return None
    if not kept:
        return EMPTY
    if len(kept) >= 2:
        return node.replace(args=tuple(kept))
    if kept[0].op == "oplus":
        return kept[0]
    return normalised(kept[0], ctx) if len(node.args) > 2 else None


def normalised(x: Node, ctx: RewriteContext) -> Node:
    """x/‖x‖ in canonical form: ``x ⊕ ∅`` (a ⊕ needs two operands; adding ∅ changes nothing)."""
    if x.op == "oplus":
        return x
    ordered = sorted((x, EMPTY), key=lambda a: term_sort_key(a, ctx.keys))
    return Node("oplus", args=tuple(ordered))


def oplus_collect(node: Node, _: Bindings, ctx: RewriteContext) -> Node | None:
    """The operands of one ⊕ are summed before the single normalisation, so they collect like a sum:
    a ⊕ a → a ⊕ ∅ (2a/‖2a‖ = a/‖a‖), a ⊕ ¬a → ∅, ⊕(a + b, c) → ⊕(a, b, c); a common positive
    scale of all operands is dropped (only when every coefficient has the same magnitude)."""
    terms: list[tuple[Coeff, Node]] = []
    constant: Coeff = 0
    for arg in node.args:
        arg_terms, arg_constant, _empty = sum_parts(arg)
        terms.extend(arg_terms)
        constant += arg_constant
    merged = merge_terms(terms, ctx.keys)
    if not merged and constant == 0:
        return EMPTY
    magnitudes = {abs(c) for c, _atom in merged} | ({abs(constant)} if constant != 0 else set())
    if len(magnitudes) == 1:
        scale = magnitudes.pop()
        merged = [(c / scale, atom) for c, atom in merged]
        constant = constant / scale
    parts = ([num(constant)] if constant != 0 else []) + [scaled(c, atom) for c, atom in merged]
    if len(parts) == 1:
        return normalised(parts[0], ctx)
    out = node.replace(args=tuple(sorted(parts, key=lambda a: term_sort_key(a, ctx.keys))))
    in_order = node.replace(args=tuple(sorted(node.args, key=lambda a: term_sort_key(a, ctx.keys))))
    return None if out == in_order else out  # a reordering alone is sort_oplus's business
