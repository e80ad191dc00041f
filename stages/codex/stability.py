"""Static risk analysis used by the cost model: sign lattice and explicit-diffusion CFL numbers.

Signs. A value's possible signs are a subset of {"-", "0", "+"} (``POS`` = {+},
``NONNEG`` = {0, +}, ``ANY`` = all three…). Sums and products combine sign sets
elementwise over all pairs; complex values keep only "can be zero or not". A
division whose denominator is field-valued and may contain 0 is a risk.

CFL. An evolve body of the form ``x + a·Δx + …`` (Δx also written ∇·∇x or
∇·(K ∇x) with a constant K, a a product of constants) is an explicit Euler step
of diffusion with coefficient-times-step a. With spacing h on a d-dimensional
grid its stability number is CFL = |a|·2d/h², stable iff CFL ≤ 1; a < 0 (backward
diffusion) is unstable for every step size.
"""

from __future__ import annotations

from stages.codex.ast import Node

Sign = frozenset[str]
POS: Sign = frozenset("+")
NEG: Sign = frozenset("-")
ZERO: Sign = frozenset("0")
NONNEG: Sign = frozenset("0+")
NONZERO: Sign = frozenset("+-")
ANY: Sign = frozenset("-0+")

_ADD = {("+", "+"): "+", ("-", "-"): "-", ("0", "0"): "0", ("+", "0"): "+", ("0", "+"): "+",
        ("-", "0"): "-", ("0", "-"): "-"}
_MUL = {("+", "+"): "+", ("-", "-"): "+", ("+", "-"): "-", ("-", "+"): "-"}


def add_signs(a: Sign, b: Sign) -> Sign:
    out: set[str] = set()
    for x in a:
        for y in b:
            out.update(_ADD.get((x, y), "-0+"))
    return frozenset(out)


def mul_signs(a: Sign, b: Sign) -> Sign:
    out: set[str] = set()
    for x in a:
        for y in b:
            out.add("0" if "0" in (x, y) else _MUL[(x, y)])
    return frozenset(out)


def negate(a: Sign) -> Sign:
    return frozenset({"+": "-", "-": "+", "0": "0"}[s] for s in a)


def as_complex(a: Sign) -> Sign:
    """A complex value is only known to be non-zero or not."""
    return ANY if "0" in a else NONZERO


def number_sign(value: float) -> Sign:
    return POS if value > 0 else NEG if value < 0 else ZERO


def constant_value(node: Node) -> float | None:
    """The value of a constant subexpression (numbers, const(c), −, *, / of those), else None."""
    if node.op == "num" and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if node.op == "call" and node.value == "const" and len(node.args) == 1:
        return constant_value(node.args[0])
    if node.op == "neg" and len(node.args) == 1:
        inner = constant_value(node.args[0])
        return None if inner is None else -inner
    if node.op in ("mul", "truediv") and node.args:
        values = [constant_value(a) for a in node.args]
        if any(v is None for v in values):
            return None
        result = values[0]
        assert result is not None
        for v in values[1:]:
            assert v is not None
            if node.op == "mul":
                result *= v
            elif v == 0:
                return None
            else:
                result /= v
        return result
    return None


def _is_var(node: Node, var: str) -> bool:
    return node.op == "ref" and node.value == var


def _laplacian_factor(node: Node, var: str) -> float | None:
    """a when ``node`` is a·Δvar (a constant), else None."""
    if node.op == "lap" and node.args and _is_var(node.args[0], var):
        return 1.0
    if node.op == "div" and node.args:
        inner = node.args[0]
        if inner.op == "grad" and inner.args and _is_var(inner.args[0], var):
            return 1.0
        if inner.op == "mul" and len(inner.args) == 2:
            for k, g in (inner.args, inner.args[::-1]):
                if g.op == "grad" and g.args and _is_var(g.args[0], var):
                    return constant_value(k)
        return None
    if node.op == "neg" and node.args:
        inner_factor = _laplacian_factor(node.args[0], var)
        return None if inner_factor is None else -inner_factor
    if node.op == "mul":
        found: float | None = None
        product = 1.0
        for arg in node.args:
            factor = _laplacian_factor(arg, var)
            if factor is not None and found is None:
                found = factor
                continue
            value = constant_value(arg)
            if value is None:
                return None
            product *= value
        return None if found is None else found * product
    if node.op == "truediv" and len(node.args) == 2:
        factor = _laplacian_factor(node.args[0], var)
        divisor = constant_value(node.args[1])
        if factor is None or not divisor:
            return None
        return factor / divisor
    return None


def _signed_terms(node: Node, sign: float = 1.0) -> list[tuple[float, Node]]:
    if node.op == "add":
        return [t for a in node.args for t in _signed_terms(a, sign)]
    if node.op == "sub" and len(node.args) == 2:
        return _signed_terms(node.args[0], sign) + _signed_terms(node.args[1], -sign)
    return [(sign, node)]


def diffusion_factor(body: Node, var: str) -> float | None:
    """Sum of the constant factors a of the a·Δvar terms of an evolve body (None if there are none)."""
    total: float | None = None
    for sign, term in _signed_terms(body):
        factor = _laplacian_factor(term, var)
        if factor is not None:
            total = (total or 0.0) + sign * factor
    return total


def cfl_number(factor: float, spacing: float, rank: int) -> float:
    """|a|·2d/h² of an explicit diffusion step with factor a (stable iff ≤ 1)."""
    return abs(factor) * 2.0 * rank / (spacing * spacing)
