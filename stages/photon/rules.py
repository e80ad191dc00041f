"""Photon's rewrite rules, as data: a catalogue of named ``Rule`` records applied in order.

A rule is a pattern (what it matches), a replacement template *or* a builder
(how the result is made — builders do what a template cannot: fold numbers, sort,
collect like terms), an optional side condition, an optional operand guard
(``operand_ops``: operators of which some operand must have one, a necessary
condition the engine checks before the builder runs), its verification kind and
its group:

* ``exact`` rules hold for the interpreter's discrete operators up to rounding
  (tolerance ``EXACT_RTOL``, relative L2 error);
* ``continuum`` rules hold only up to discretisation error. Their tolerance is
  ``coefficient · sin²(k_max·h/2)``: for a field whose Fourier modes have
  |k| ≤ k_max, the central-difference ∇·∇ and the compact Δ differ, mode by
  mode, by the relative factor sin²(kh/2), so in the L2 norm the relative error
  of ∇·∇u → Δu is at most sin²(k_max h/2) (Parseval). ``k_max`` is the largest
  wavenumber of the verification fields (``verify.py``).

Groups: ``core`` rules always run; ``expand`` (distribution, power expansion,
linearity) produces the expanded canonical form; ``product_rule`` is tried only
as a cost-guided alternative (``normalize.py`` keeps it only when it is cheaper).

Every rule terminates: flattening lowers depth, sorting and collecting reach a
fixed order, folding removes nodes, expansion is bounded by
``MAX_EXPANDED_TERMS``, and nothing in ``core`` undoes anything else in ``core``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon import arith_rules as ar
from stages.photon import calculus_rules as cr
from stages.photon import factor_rules as fr
from stages.photon.context import RewriteContext
from stages.photon.patterns import Bindings, P, Pattern, V, head_op, instantiate, match, render_pattern

Builder = Callable[[Node, Bindings, RewriteContext], Node | None]
Condition = Callable[[Node, Bindings, RewriteContext], bool]
RuleKind = Literal["exact", "continuum"]

EXACT_RTOL = 1e-9


@dataclass(frozen=True)
class Rule:
    """One named, value-preserving rewrite."""

    name: str
    pattern: Pattern
    replacement: Pattern | None = None
    builder: Builder | None = None
    side_condition: Condition | None = None
    kind: RuleKind = "exact"
    tolerance: float = EXACT_RTOL
    group: str = "core"
    doc: str = ""
    ops: tuple[str, ...] = ()  # operators a variable-rooted pattern is tried on (dispatch only)
    # A necessary condition, as data: the rule can only fire when some operand's operator is one of
    # these (empty: no condition). The engine checks it before calling the builder, which decides.
    operand_ops: frozenset[str] = frozenset()
    _operator_only: bool = field(default=False, init=False, repr=False, compare=False)
    _variable_only: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = self.pattern
        # An operator-only pattern (P(op, any_args=True)) is matched by dispatch alone, and so is a
        # bare variable (V("node")): dispatch already chose the operators it is tried on.
        trivial = isinstance(pattern, P) and pattern.args is None and pattern.value is None
        object.__setattr__(self, "_operator_only", trivial)
        bare = pattern.name if isinstance(pattern, V) and pattern.op is None else None
        object.__setattr__(self, "_variable_only", bare)

    def apply(self, node: Node, ctx: RewriteContext) -> Node | None:
        """The rewritten node, or None when the pattern, side condition or builder declines."""
        if self._operator_only and self.builder is not None and self.side_condition is None:
            out = self.builder(node, {}, ctx)
            return None if out is None or out == node else out
        if self._variable_only is not None:
            bindings: Bindings | None = {self._variable_only: node}
        else:
            bindings = {} if self._operator_only else match(self.pattern, node)
        if bindings is None:
            return None
        if self.side_condition is not None and not self.side_condition(node, bindings, ctx):
            return None
        if self.builder is not None:
            out = self.builder(node, bindings, ctx)
        elif self.replacement is not None:
            out = instantiate(self.replacement, bindings)
        else:
            return None
        return None if out is None or out == node else out

    def tolerance_at(self, grid: GridSpec, max_wavenumber: int) -> float:
        """Relative L2 tolerance of this rule on ``grid`` for fields with wavenumbers ≤ max_wavenumber."""
        if self.kind == "exact":
            return self.tolerance
        points = min(grid.shape)
        return self.tolerance * math.sin(math.pi * max_wavenumber / points) ** 2

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pattern": render_pattern(self.pattern),
            "kind": self.kind,
            "tolerance": self.tolerance,
            "group": self.group,
            "doc": self.doc,
        }


def _not_evolve_var(node: Node, _: Bindings, ctx: RewriteContext) -> bool:
    return "pi" not in ctx.evolve_vars


ANY = V("node")
NUMBERS = frozenset({"num"})
EMPTIES = frozenset({"empty"})


def _linear_rules() -> list[Rule]:
    rules = []
    for op in cr.LINEAR_OPS:
        pattern = P(op, V("u"), V("k")) if op == "delay" else P(op, V("u"))
        rules.append(Rule(
            f"linear_{op}", pattern, builder=cr.linearity, group="expand",
            doc=f"{op}(a·u + b·v) → a·{op}(u) + b·{op}(v)",
        ))
    return rules


RULES: tuple[Rule, ...] = (
    # numbers
    Rule("fold_pi", P("ref", value="pi"), builder=ar.fold_pi, side_condition=_not_evolve_var,
         doc="pi → 3.141592653589793"),
    Rule("fold_constants", ANY, builder=ar.fold_constants, operand_ops=NUMBERS,
         doc="operators on number literals → a literal",
         ops=("add", "sub", "mul", "truediv", "pow", "neg", "call")),
    # negation and subtraction
    Rule("sub_as_add_neg", P("sub", V("a"), V("b")), P("add", V("a"), P("neg", V("b"))),
         doc="a − b → a + ¬b (IEEE: identical)"),
    Rule("neg_neg", P("neg", P("neg", V("x"))), V("x"), doc="¬¬x → x"),
    Rule("not_not", P("not", P("not", V("x"))), V("x"), doc="not not p → p"),
    Rule("neg_empty", P("neg", P("empty")), P("empty"), doc="¬∅ → ∅"),
    Rule("neg_into_coefficient", P("neg", V("x", "mul")), builder=ar.neg_into_coefficient,
         doc="¬(c·x) → (−c)·x"),
    Rule("neg_distribute", P("neg", V("x", "add")), builder=ar.neg_distribute, group="expand",
         doc="¬(a + b) → ¬a + ¬b"),
    # sums
    Rule("flatten_add", P("add", any_args=True), builder=ar.flatten, operand_ops=frozenset({"add"}),
         doc="(a + b) + c → +(a, b, c)"),
    Rule("add_zero", P("add", any_args=True), builder=ar.add_zero, operand_ops=NUMBERS,
         doc="x + 0 → x"),
    Rule("add_empty", P("add", any_args=True), builder=ar.add_empty, operand_ops=EMPTIES,
         doc="x + ∅ → x (x a field)"),
    Rule("collect_like_terms", P("add", any_args=True), builder=ar.collect_like_terms,
         doc="a + a → 2a, a − a → 0 / ∅, constants summed"),
    Rule("sort_add", P("add", any_args=True), builder=ar.sort_sum, doc="operands in canonical order"),
    Rule("add_single", P("add", any_args=True), builder=ar.single_operand, doc="+(x) → x"),
    # products
    Rule("flatten_mul", P("mul", any_args=True), builder=ar.flatten, operand_ops=frozenset({"mul"}),
         doc="(a·b)·c → ·(a, b, c)"),
    Rule("mul_empty", P("mul", any_args=True), builder=ar.mul_empty, operand_ops=EMPTIES,
         doc="x · ∅ → ∅"),
    Rule("mul_zero", P("mul", any_args=True), builder=ar.mul_zero, operand_ops=NUMBERS,
         doc="x · 0 → 0 (number) / ∅ (field)"),
    Rule("distribute_mul_over_add", P("mul", any_args=True), builder=ar.distribute_mul_over_add,
         group="expand", operand_ops=frozenset({"add"}),
         doc="a·(b + c) → a·b + a·c"),
    Rule("neg_factor_out", P("mul", any_args=True), builder=ar.neg_factor_out, operand_ops=frozenset({"neg"}),
         doc="a·¬b → (−1)·a·b"),
    Rule("fold_coefficients", P("mul", any_args=True), builder=ar.fold_coefficients, operand_ops=NUMBERS,
         doc="2·u·3 → 6·u"),
    Rule("mul_one", P("mul", any_args=True), builder=ar.mul_one, operand_ops=NUMBERS,
         doc="x · 1 → x"),
    Rule("mul_minus_one", P("mul", any_args=True), builder=ar.mul_minus_one, operand_ops=NUMBERS,
         doc="(−1)·x → ¬x"),
    Rule("merge_powers", P("mul", any_args=True), builder=ar.merge_powers, doc="u·u → u², u²·u → u³"),
    Rule("mul_constant_field", P("mul", any_args=True), builder=ar.mul_constant_field,
         operand_ops=frozenset({"add"}), doc="u·(k + ∅) → u·k (u a field)"),
    Rule("sort_mul", P("mul", any_args=True), builder=ar.sort_product, doc="factors in canonical order"),
    Rule("mul_single", P("mul", any_args=True), builder=ar.single_operand, doc="·(x) → x"),
    # quotients and powers
    Rule("div_by_constant", P("truediv", V("x"), V("c", "num")), builder=ar.div_by_constant,
         doc="x / c → (1/c)·x"),
    Rule("pow_one", P("pow", V("x"), P("num", value=1)), V("x"), doc="x¹ → x"),
    Rule("pow_empty", P("pow", P("empty"), V("n", "num")), P("empty"),
         side_condition=lambda node, b, ctx: ar.positive_number(b["n"]),
         doc="∅ⁿ → ∅ (n > 0)"),
    Rule("pow_pow", P("pow", P("pow", V("x"), V("m", "num")), V("n", "num")), builder=ar.pow_pow,
         doc="(xᵐ)ⁿ → xᵐⁿ (integers)"),
    Rule("pow_constant_field", P("pow", V("x", "add"), V("n", "num")), builder=ar.pow_constant_field,
         doc="(k + ∅)ⁿ → kⁿ + ∅"),
    Rule("expand_power", P("pow", V("x", "add"), V("n", "num")), builder=ar.expand_power, group="expand",
         doc="(a + b)ⁿ → expanded product (n ≤ 4)"),
    # superposition: ⊕ normalises once over all its operands, so nested ⊕ are never flattened
    Rule("ominus_self", P("ominus", V("a"), V("a")), P("empty"), doc="a ⊖ a → ∅"),
    Rule("ominus_as_oplus", P("ominus", V("a"), V("b")), P("oplus", V("a"), P("neg", V("b"))),
         doc="a ⊖ b → ⊕(a, ¬b): both normalise a − b"),
    Rule("oplus_empty", P("oplus", any_args=True), builder=ar.oplus_empty,
         operand_ops=EMPTIES,
         doc="a ⊕ b ⊕ ∅ → a ⊕ b; y ⊕ ∅ → y when y is a ⊕ result (unit norm); ∅ ⊕ ∅ → ∅"),
    Rule("oplus_collect", P("oplus", any_args=True), builder=ar.oplus_collect,
         doc="a ⊕ a → a ⊕ ∅ (= a/‖a‖); a ⊕ ¬a → ∅; a common positive scale dropped"),
    Rule("sort_oplus", P("oplus", any_args=True), builder=ar.sort_sum, doc="operands in canonical order"),
    # field operators
    Rule("structural_of_empty", ANY, builder=cr.structural_of_empty, ops=cr.LINEAR_OPS + cr.BILINEAR_OPS,
         doc="∇∅ ∇·∅ ∇×∅ Δ∅ □∅ d/dt ∅ ⧖∅ → ∅; ∅⊗x ∅•x ∅×x → ∅"),
    Rule("div_grad_to_lap", P("div", P("grad", V("u"))), P("lap", V("u")),
         side_condition=cr.div_grad_condition, kind="continuum", tolerance=1.5,
         doc="∇·∇u → Δu (periodic grids; O(h²))"),
    Rule("curl_grad_zero", P("curl", P("grad", V("u"))), P("empty"), side_condition=cr.curl_grad_condition,
         doc="∇×∇u → ∅ (central differences along different axes commute)"),
    Rule("div_curl_zero", P("div", P("curl", V("a"))), P("empty"), side_condition=cr.div_curl_condition,
         doc="∇·(∇×A) → ∅ (3-D)"),
    *_linear_rules(),
    Rule("product_rule", P("grad", V("f")), builder=cr.product_rule, kind="continuum", tolerance=8.0,
         group="product_rule", doc="∇(f·g) → f∇g + g∇f (periodic grids; O(h²))"),
    Rule("outer_number_as_mul", P("outer", V("a"), V("b")), builder=cr.outer_number_as_mul,
         doc="c ⊗ x → c·x"),
    Rule("distribute_bilinear", ANY, builder=cr.distribute_bilinear, group="expand", ops=cr.BILINEAR_OPS,
         doc="(a + b) ⊗ c → a⊗c + b⊗c (⊗ • ×)"),
    Rule("bilinear_scale", ANY, builder=cr.bilinear_scale, doc="(c·a) ⊗ b → c·(a ⊗ b) (⊗ • ×)",
         ops=cr.BILINEAR_OPS),
    Rule("sort_dot", P("dot", V("a"), V("b")), builder=cr.sort_dot, doc="b • a → a • b"),
    Rule("sort_cross", P("cross", V("a"), V("b")), builder=cr.sort_cross, doc="b × a → ¬(a × b)"),
    # extraction (group "factor"): run on the expanded form to find cheaper equivalent forms
    Rule("factor_linear", P("add", any_args=True), builder=fr.factor_linear, group="factor",
         doc="c₁·L(a) + c₂·L(b) → L(c₁a + c₂b); c·∇u → ∇(c·u)"),
    Rule("factor_bilinear", P("add", any_args=True), builder=fr.factor_bilinear, group="factor",
         doc="a⊗b + a⊗c → a⊗(b + c)"),
    Rule("factor_common", P("add", any_args=True), builder=fr.factor_common, group="factor",
         doc="a·b + a·c → a·(b + c)"),
    Rule("factor_numeric", P("add", any_args=True), builder=fr.factor_numeric, group="factor",
         doc="2a + 2b → 2·(a + b)"),
    Rule("subtract_negatives", P("add", any_args=True), builder=fr.subtract_negatives, group="factor",
         doc="a + ¬b + (−2)·c → a − (b + 2c)"),
    Rule("ominus_from_oplus", P("oplus", any_args=True), builder=fr.ominus_from_oplus, group="factor",
         doc="⊕(a, ¬b) → a ⊖ b"),
    Rule("pow_as_product", P("pow", V("x"), V("n", "num")), builder=fr.pow_as_product, group="factor",
         doc="u² → u·u, u³ → u·u·u (small bases; cheaper than a power)"),
)

RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
if len(RULES_BY_NAME) != len(RULES):
    raise RuntimeError("duplicate rule names in the Photon catalogue")


def applies_to(rule: Rule, op: str) -> bool:
    """Whether ``rule`` is tried on nodes with operator ``op`` (its pattern's root, or its ``ops``)."""
    head = head_op(rule.pattern)
    if head is not None:
        return head == op
    return not rule.ops or op in rule.ops
