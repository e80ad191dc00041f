# mypy: disable-error-code="empty-body"
"""Photon's algebraic rule set as equality saturation with ``egglog``: the measured alternative for P7.

Issue 5 asks whether Photon should normalise by equality saturation or by an
ordered, terminating rewrite system. This module is the e-graph side of that
measurement: the algebra fragment of Photon's catalogue (the part the P7 corpus
exercises) written as egglog rewrites, saturated under a bounded schedule and
extracted by tree size. ``bench_photon.py`` runs it on the same expressions, in
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

from collections.abc import Iterable
from typing import Any

from egglog import EGraph, Expr, StringLike, back_off, f64, f64Like, i64, i64Like, rewrite, ruleset
from egglog import run as run_schedule
from egglog.deconstruct import get_callable_args, get_callable_fn, get_literal_value

from stages.codex.ast import Node, num, ref

ITERATIONS = 8
MATCH_LIMIT = 1000
BAN_LENGTH = 5


class Term(Expr):
    """An algebraic expression over float constants and named fields."""

    def __init__(self, value: f64Like) -> None: ...

    @classmethod
    def var(cls, name: StringLike) -> Term: ...

    def __add__(self, other: Term) -> Term: ...

    def __mul__(self, other: Term) -> Term: ...

    def __sub__(self, other: Term) -> Term: ...

    def __neg__(self) -> Term: ...

    def __truediv__(self, other: Term) -> Term: ...

    def __pow__(self, exponent: i64Like) -> Term: ...


@ruleset
def algebra(a: Term, b: Term, c: Term, x: f64, y: f64, m: i64, n: i64) -> Iterable[Any]:
    # subtraction, negation, division by a constant
    yield rewrite(a - b).to(a + Term(-1.0) * b)
    yield rewrite(-a).to(Term(-1.0) * a)
    yield rewrite(a / Term(x)).to(Term(1.0 / x) * a, x != 0.0)
    # commutativity and associativity
    yield rewrite(a + b).to(b + a)
    yield rewrite(a * b).to(b * a)
    yield rewrite((a + b) + c).to(a + (b + c))
    yield rewrite(a + (b + c)).to((a + b) + c)
    yield rewrite((a * b) * c).to(a * (b * c))
    yield rewrite(a * (b * c)).to((a * b) * c)
    # identities, annihilator, constant folding
    yield rewrite(a + Term(0.0)).to(a)
    yield rewrite(a * Term(1.0)).to(a)
    yield rewrite(a * Term(0.0)).to(Term(0.0))
    yield rewrite(Term(x) + Term(y)).to(Term(x + y))
    yield rewrite(Term(x) * Term(y)).to(Term(x * y))
    # distribution, both ways (factoring, collecting like terms)
    yield rewrite(a * (b + c)).to(a * b + a * c)
    yield rewrite(a * b + a * c).to(a * (b + c))
    yield rewrite(a + a).to(Term(2.0) * a)
    yield rewrite(a + Term(x) * a).to(Term(x + 1.0) * a)
    # powers
    yield rewrite(a * a).to(a ** i64(2))
    yield rewrite((a ** m) * a).to(a ** (m + i64(1)))
    yield rewrite((a ** m) * (a ** n)).to(a ** (m + n))
    yield rewrite((a ** m) ** n).to(a ** (m * n))
    yield rewrite(a ** i64(1)).to(a)
    yield rewrite(a ** m).to(a * (a ** (m - i64(1))), m >= i64(3))
    yield rewrite(a ** i64(2)).to(a * a)


def to_term(node: Node) -> Term:
    """The egglog term of a Codex tree of the P7 algebra (+ − · ¬, integer powers, division)."""
    op = node.op
    if op == "num":
        return Term(float(node.value))  # type: ignore[arg-type]
    if op == "ref":
        return Term.var(str(node.value))
    args = [to_term(arg) for arg in node.args]
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


def from_term(term: Term) -> Node:
    """The Codex tree of an extracted egglog term."""
    fn = get_callable_fn(term)
    args = get_callable_args(term)
    if fn == Term:
        value = get_literal_value(args[0])
        return num(float(value) if value is not None else 0.0)
    if fn == Term.var:
        return ref(str(get_literal_value(args[0])))
    children = [from_term(arg) for arg in args if isinstance(arg, Term)]
    if fn == Term.__add__:
        return Node("add", args=tuple(children))
    if fn == Term.__mul__:
        return Node("mul", args=tuple(children))
    if fn == Term.__sub__:
        return Node("sub", args=tuple(children))
    if fn == Term.__neg__:
        return Node("neg", args=tuple(children))
    if fn == Term.__truediv__:
        return Node("truediv", args=tuple(children))
    if fn == Term.__pow__:
        exponent = get_literal_value(args[1])
        return Node("pow", args=(children[0], num(int(exponent))))  # type: ignore[arg-type]
    raise ValueError(f"unknown egglog constructor {fn}")


SCHEDULE = run_schedule(algebra, scheduler=back_off(match_limit=MATCH_LIMIT, ban_length=BAN_LENGTH)) * ITERATIONS
SCHEDULE_TEXT = f"{ITERATIONS} iterations, back-off match_limit={MATCH_LIMIT} ban_length={BAN_LENGTH}"


def version() -> str:
    from importlib.metadata import version as package_version

    return package_version("egglog")


def egglog_normalize(node: Node) -> Node:
    """Saturate (bounded) and extract the smallest equivalent tree."""
    egraph = EGraph()
    term = egraph.let("root", to_term(node))
    egraph.run(SCHEDULE)
    return from_term(egraph.extract(term))
