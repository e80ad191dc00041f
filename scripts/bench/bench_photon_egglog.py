# mypy: disable-error-code="empty-body"
"""Photon's algebraic rule set as equality saturation with ``egglog``: the measured alternative for P7.

Issue 5 asks whether Photon should normalise by equality saturation or by an
ordered, terminating rewrite system. This module is the e-graph side of that
measurement: the algebra fragment of Photon's catalogue (the part the P7 corpus
exercises) written as egglog rewrites, saturated under a bounded schedule and
extracted by one of two objectives: tree size (egglog's default, close to what
count_ops rewards) or Photon's own ranking, Codex flops first and size second
(``FlopTerm``'s constructor costs). ``bench_photon.py`` runs it on the same expressions, in
the same run, and reports time, size and value agreement side by side.

Rules (Photon rule names in brackets):

* a − b = a + (−1)·b [sub_as_add_neg], ¬a = (−1)·a [neg_*, mul_minus_one],
  x / c = (1/c)·x [div_by_constant];
* + and · commutative and associative [flatten_*, sort_*];
* x + 0 = x, x·1 = x, x·0 = 0 [add_zero, mul_one, mul_zero]; constant folding
  in float64 [fold_constants, fold_coefficients];
* a·(b + c) = a·b + a·c in both directions [distribute_mul_over_add,
  factor_common, factor_numeric, collect_like_terms: c₁a + c₂a = (c₁ + c₂)a
  is distribution read backwards, a + a = 2a is a·1 + a·1];
* x·x = x², xᵐ·x = xᵐ⁺¹, xᵐ·xⁿ = xᵐ⁺ⁿ, (xᵐ)ⁿ = xᵐⁿ, x¹ = x, x² = x·x
  [merge_powers, pow_pow, pow_one, expand_power, pow_as_product].

Commutativity, associativity and two-way distribution make the e-graph grow
without bound, so the schedule is bounded: ``ITERATIONS`` rounds under egglog's
back-off scheduler (rules that match too often are banned for a while). Terms
are encoded over ``f64`` constants and ``i64`` exponents.

egglog is a dev/bench dependency (``pyproject.toml``); Photon itself never imports it.
"""

from __future__ import annotations

from typing import Any

from egglog import (
    EGraph,
    Expr,
    Ruleset,
    StringLike,
    back_off,
    f64,
    f64Like,
    i64,
    i64Like,
    method,
    rewrite,
    ruleset,
    var,
)
from egglog import run as run_schedule
from egglog.deconstruct import get_callable_args, get_callable_fn, get_literal_value

from stages.codex.ast import Node, num, ref

# Measured on the first 100 P7 expressions (size extraction): 4 iterations 10 ms/expr, 69 no larger
# than sympy; 8 iterations 17 ms/expr, 85; 16 iterations 162 ms/expr, 86 — the e-graph explodes past 8.
ITERATIONS = 8
MATCH_LIMIT = 1000
BAN_LENGTH = 5


class Term(Expr):
    """An algebraic expression over float constants and named fields; extraction minimises tree size."""

    def __init__(self, value: f64Like) -> None: ...

    @classmethod
    def var(cls, name: StringLike) -> Term: ...

    def __add__(self, other: Term) -> Term: ...

    def __mul__(self, other: Term) -> Term: ...

    def __sub__(self, other: Term) -> Term: ...

    def __neg__(self) -> Term: ...

    def __truediv__(self, other: Term) -> Term: ...

    def __pow__(self, exponent: i64Like) -> Term: ...


# Photon's objective in egglog's terms: Codex flops per entry first (+ − · ¬ / one, a power
# ``transcendental_flops`` = 10), tree size second — the ranking normalize.py uses.
OP_COST = 101
POW_COST = 1001


class FlopTerm(Expr):
    """``Term`` with costs for flops first, size second."""

    def __init__(self, value: f64Like) -> None: ...

    @classmethod
    def var(cls, name: StringLike) -> FlopTerm: ...

    @method(cost=OP_COST)
    def __add__(self, other: FlopTerm) -> FlopTerm: ...

    @method(cost=OP_COST)
    def __mul__(self, other: FlopTerm) -> FlopTerm: ...

    @method(cost=OP_COST)
    def __sub__(self, other: FlopTerm) -> FlopTerm: ...

    @method(cost=OP_COST)
    def __neg__(self) -> FlopTerm: ...

    @method(cost=OP_COST)
    def __truediv__(self, other: FlopTerm) -> FlopTerm: ...

    @method(cost=POW_COST)
    def __pow__(self, exponent: i64Like) -> FlopTerm: ...


AnyTerm = Term | FlopTerm


def algebra(cls: type[Any]) -> Ruleset:
    """The rule set of the module docstring over the terms of ``cls``."""
    a, b, c = var("a", cls), var("b", cls), var("c", cls)
    x, y = var("x", f64), var("y", f64)
    m, n = var("m", i64), var("n", i64)
    return ruleset(
        # subtraction, negation, division by a constant
        rewrite(a - b).to(a + cls(-1.0) * b),
        rewrite(-a).to(cls(-1.0) * a),
        rewrite(a / cls(x)).to(cls(1.0 / x) * a, x != 0.0),
        # commutativity and associativity
        rewrite(a + b).to(b + a),
        rewrite(a * b).to(b * a),
        rewrite((a + b) + c).to(a + (b + c)),
        rewrite(a + (b + c)).to((a + b) + c),
        rewrite((a * b) * c).to(a * (b * c)),
        rewrite(a * (b * c)).to((a * b) * c),
        # identities, annihilator, constant folding
        rewrite(a + cls(0.0)).to(a),
        rewrite(a * cls(1.0)).to(a),
        rewrite(a * cls(0.0)).to(cls(0.0)),
        rewrite(cls(x) + cls(y)).to(cls(x + y)),
        rewrite(cls(x) * cls(y)).to(cls(x * y)),
        # distribution, both ways (factoring, collecting like terms)
        rewrite(a * (b + c)).to(a * b + a * c),
        rewrite(a * b + a * c).to(a * (b + c)),
        rewrite(a + a).to(cls(2.0) * a),
        rewrite(a + cls(x) * a).to(cls(x + 1.0) * a),
        # powers
        rewrite(a * a).to(a ** i64(2)),
        rewrite((a ** m) * a).to(a ** (m + i64(1))),
        rewrite((a ** m) * (a ** n)).to(a ** (m + n)),
        rewrite((a ** m) ** n).to(a ** (m * n)),
        rewrite(a ** i64(1)).to(a),
        rewrite(a ** m).to(a * (a ** (m - i64(1))), m >= i64(3)),
        rewrite(a ** i64(2)).to(a * a),
    )


def to_term(node: Node, cls: type[Any] = Term) -> Any:
    """The egglog term of a Codex tree of the P7 algebra (+ − · ¬, integer powers, division)."""
    op = node.op
    if op == "num":
        return cls(float(node.value))  # type: ignore[arg-type]
    if op == "ref":
        return cls.var(str(node.value))
    args = [to_term(arg, cls) for arg in node.args]
    if op == "add":
        out = args[0]
        for arg in args[1:]:
            out = out + arg
        return out
    if op == "mul":
        out = args[0]
        for arg in args[1:]:
            out = out * arg
        return out
    if op == "sub":
        return args[0] - args[1]
    if op == "neg":
        return -args[0]
    if op == "truediv":
        return args[0] / args[1]
    if op == "pow" and node.args[1].op == "num":
        return args[0] ** i64(int(node.args[1].value))  # type: ignore[arg-type]
    raise ValueError(f"no egglog term for {op}")


def from_term(term: Any, cls: type[Any] = Term) -> Node:
    """The Codex tree of an extracted egglog term."""
    fn = get_callable_fn(term)
    args = get_callable_args(term)
    if fn == cls:
        value = get_literal_value(args[0])
        return num(float(value) if value is not None else 0.0)
    if fn == cls.var:
        return ref(str(get_literal_value(args[0])))
    children = [from_term(arg, cls) for arg in args if isinstance(arg, cls)]
    if fn == cls.__add__:
        return Node("add", args=tuple(children))
    if fn == cls.__mul__:
        return Node("mul", args=tuple(children))
    if fn == cls.__sub__:
        return Node("sub", args=tuple(children))
    if fn == cls.__neg__:
        return Node("neg", args=tuple(children))
    if fn == cls.__truediv__:
        return Node("truediv", args=tuple(children))
    if fn == cls.__pow__:
        exponent = get_literal_value(args[1])
        return Node("pow", args=(children[0], num(int(exponent))))  # type: ignore[arg-type]
    raise ValueError(f"unknown egglog constructor {fn}")


SCHEDULE_TEXT = f"{ITERATIONS} iterations, back-off match_limit={MATCH_LIMIT} ban_length={BAN_LENGTH}"
OBJECTIVES: dict[str, type[Any]] = {"size": Term, "flops": FlopTerm}
_SCHEDULES = {
    cls: run_schedule(algebra(cls), scheduler=back_off(match_limit=MATCH_LIMIT, ban_length=BAN_LENGTH)) * ITERATIONS
    for cls in OBJECTIVES.values()
}


def version() -> str:
    from importlib.metadata import version as package_version

    return package_version("egglog")


def egglog_normalize(node: Node, objective: str = "size") -> Node:
    """Saturate (bounded) and extract the cheapest equivalent tree under ``objective`` (size or flops)."""
    cls = OBJECTIVES[objective]
    egraph = EGraph()
    term = egraph.let("root", to_term(node, cls))
    egraph.run(_SCHEDULES[cls])
    return from_term(egraph.extract(term), cls)
