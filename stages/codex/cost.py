"""Cost of evaluating an expanded expression, from shapes alone (nothing runs).

Notation: E = entries of a node's value (``FieldType.elements``: T·N·C for a field
with time axis T, N grid points and C components; 1 for a number), N = grid
points, d = grid rank, k = number of operands, TRANS = ``transcendental_flops``.
Operations on complex values cost ``COMPLEX_FACTOR`` (4) times the real count.

``flops`` — the sum over all nodes of:
    + − * /           (k−1)·E            ^                TRANS·E
    ¬ (neg)           E                  ⊗ (pointwise)    E of the result (one product per entry)
    ∇                 2·d·N·(T)          central differences: 2 taps → 2 flops per derivative
    ∇·                (3d−1)·N·(T)       d derivatives + (d−1) additions
    ∇×                15·N (3-D), 5·N (2-D)
    Δ                 (5d−1)·E           d second differences of 3 taps (4 flops) + (d−1) additions
    d/dt              2·E                □ (5d+5)·E: ∂²/∂t² (4) + Δ + scale + subtract
    ⧖                 0 (a shift)        •  (2C−1)·N     × 9·N (3 components), 3·N (2)
    ⊕ ⊖               (k+2)·E + 1        sum, norm, rescale
    norm energy       2·E_in + 2         sum mean max min finite abs conj real imag: E_in
    sqrt exp sin cos phase: TRANS·E_in   entropy (TRANS+6)·E_in
    interfere(k ψ)    4·(2k+2)·E         sample(ψ, n) 4·E_in + n·⌈log₂ E_in⌉
    gaussian          (3d+TRANS)·N       plane_wave (2d+2·TRANS)·N   random 6·(2d+TRANS)·N
    const zeros load  0                  comparisons, connectives: 1
    evolve ⟲n         flops(start) + n·flops(body)
``bytes`` — peak working set: evaluating children left to right, a node needs
    max_i(Σ_{j<i} out_j + peak_i) and, at the end, Σ out_j + its own output; an
    evolve holds its state plus the body's peak. out = E·8 bytes (16 complex).
``energy``  = flops · ``joules_per_flop``.
``delay``   = max(flops / ``peak_flops``, bytes / ``bandwidth``) seconds.
``ethics_risk`` = 1 − Π(1 − rᵢ) over the risks found (``risk_flags``):
    memory_cap:          bytes > ``memory_cap``                                  r = 1
    cfl:                 an evolve's explicit-diffusion CFL > 1 (``stability``)  r = 1 − 1/CFL
    backward_diffusion:  an evolve diffusing with a negative factor             r = 1
    division_by_zero:    ``/`` by a field (or literal 0) that can be 0          r = ``division_risk``
``opportunity_loss`` = queue wait (s) × priority: the delay of the cells queued
    ahead of this one in the sheet (``sheet_costs``), 0 for a lone estimate.
``total``   = flops / ``cost_threshold``: the cost in units of the routing
    threshold, ≥ 1 means heavy (QWave when enabled).
``cfl``     = the largest CFL number of any evolve, or None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.codex.infer import TypeInference
from stages.codex.stability import (
    ANY,
    NONNEG,
    NONZERO,
    POS,
    ZERO,
    Sign,
    add_signs,
    as_complex,
    cfl_number,
    constant_value,
    diffusion_factor,
    mul_signs,
    negate,
    number_sign,
)
from stages.codex.typerules import RuleContext
from stages.codex.types import FieldType

COMPLEX_FACTOR = 4


@dataclass(frozen=True)
class CostModel:
    """The machine constants the estimate assumes (documented defaults, overridable)."""

    joules_per_flop: float = 1.0e-10
    peak_flops: float = 5.0e10
    bandwidth: float = 1.0e10
    memory_cap: float = float(2**31)
    cost_threshold: float = 2.0e5
    transcendental_flops: int = 10
    division_risk: float = 0.5
    priority: float = 1.0

    @staticmethod
    def from_flags(flags: Mapping[str, Any]) -> CostModel:
        threshold = flags.get("COST_THRESHOLD", 2.0e5)
        return CostModel(cost_threshold=float(threshold) if isinstance(threshold, int | float) else 2.0e5)


@dataclass(frozen=True)
class Cost:
    flops: float
    bytes: float
    energy: float
    delay: float
    ethics_risk: float
    opportunity_loss: float
    total: float
    risk_flags: tuple[str, ...] = ()
    cfl: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "flops": self.flops, "bytes": self.bytes, "energy": self.energy, "delay": self.delay,
            "ethics_risk": self.ethics_risk, "opportunity_loss": self.opportunity_loss, "total": self.total,
            "risk_flags": list(self.risk_flags), "cfl": self.cfl,
        }


@dataclass
class _Stats:
    flops: float
    peak: float
    out: float
    sign: Sign


@dataclass
class _Findings:
    risks: dict[str, float] = field(default_factory=dict)
    cfl: float | None = None

    def risk(self, flag: str, value: float) -> None:
        self.risks[flag] = max(self.risks.get(flag, 0.0), value)


def estimate_cost(
    expanded: Node,
    grid: GridSpec,
    types: Mapping[str, FieldType] | None = None,
    *,
    model: CostModel | None = None,
    queue_wait: float = 0.0,
) -> Cost:
    """Cost of ``expanded`` on ``grid``. ``types`` gives the type of free references other than the
    built-ins (unknown ones count as real scalar fields). Raises ``CodexError`` for an ill-typed tree."""
    model = model or CostModel()
    inference = TypeInference(RuleContext(grid, strict=False), types or {}, lenient_refs=True, allow_attr=True,
                              record=True)
    inference.infer(expanded)
    assert inference.types is not None
    findings = _Findings()
    stats = _Walker(grid, inference.types, model, findings).visit(expanded, frozenset())
    if stats.peak > model.memory_cap:
        findings.risk("memory_cap", 1.0)
    survive = 1.0
    for value in findings.risks.values():
        survive *= 1.0 - min(max(value, 0.0), 1.0)
    return Cost(
        flops=float(stats.flops),
        bytes=float(stats.peak),
        energy=stats.flops * model.joules_per_flop,
        delay=max(stats.flops / model.peak_flops, stats.peak / model.bandwidth),
        ethics_risk=1.0 - survive,
        opportunity_loss=queue_wait * model.priority,
        total=stats.flops / model.cost_threshold,
        risk_flags=tuple(sorted(findings.risks)),
        cfl=findings.cfl,
    )


class _Walker:
    def __init__(self, grid: GridSpec, types: dict[int, FieldType], model: CostModel, findings: _Findings) -> None:
        self.grid = grid
        self.types = types
        self.model = model
        self.findings = findings

    def type_of(self, node: Node) -> FieldType:
        return self.types.get(id(node), FieldType("number"))

    def out_bytes(self, t: FieldType) -> float:
        if t.kind in ("tuple", "str", "unknown"):
            return 8.0
        return float(t.elements(self.grid) * (16 if t.complex else 8))

    def visit(self, node: Node, bound: frozenset[str]) -> _Stats:
        t = self.type_of(node)
        op = node.op
        if op == "ref" and node.value in bound:
            return _Stats(0.0, 0.0, 0.0, ANY)
        if op == "evolve" and len(node.args) == 3:
            return self.evolve(node, t, bound)
        if op in ("num", "bool", "str", "ref", "empty", "attr"):
            size = self.out_bytes(t)
            return _Stats(0.0, size, size, _leaf_sign(node))
        children = [*node.args, *(v for _, v in node.kw)]
        stats = [self.visit(c, bound) for c in children]
        held = 0.0
        peak = 0.0
        for s in stats:
            peak = max(peak, held + s.peak)
            held += s.out
        out = self.out_bytes(t)
        peak = max(peak, held + out)
        arg_types = [self.type_of(c) for c in node.args]
        flops = sum(s.flops for s in stats) + self.own_flops(node, t, arg_types)
        sign = self.sign(node, t, [s.sign for s in stats[: len(node.args)]])
        if op == "truediv" and len(stats) >= 2:
            denominator = arg_types[1]
            if "0" in stats[1].sign and (denominator.kind == "field" or stats[1].sign == ZERO):
                self.findings.risk("division_by_zero", self.model.division_risk)
        return _Stats(flops, peak, out, sign)

    def evolve(self, node: Node, t: FieldType, bound: frozenset[str]) -> _Stats:
        count, start, body = node.args
        steps = constant_value(count) or 0.0
        steps = steps if math.isfinite(steps) and steps > 0 else 0.0
        var = str(node.value)
        first = self.visit(start, bound)
        step = self.visit(body, bound | {var})
        factor = diffusion_factor(body, var)
        if factor is not None and factor != 0:
            cfl = cfl_number(factor, self.grid.spacing, self.grid.rank)
            self.findings.cfl = max(cfl, self.findings.cfl or 0.0)
            if factor < 0:
                self.findings.risk("backward_diffusion", 1.0)
            elif cfl > 1.0 + 1e-9:
                self.findings.risk("cfl", 1.0 - 1.0 / cfl)
        out = self.out_bytes(t)
        return _Stats(first.flops + steps * step.flops, max(first.peak, first.out + step.peak, out), out, ANY)

    def own_flops(self, node: Node, t: FieldType, args: list[FieldType]) -> float:
        op, grid = node.op, self.grid
        e_out = float(t.elements(grid))
        e_in = float(args[0].elements(grid)) if args else e_out
        d, trans = grid.rank, self.model.transcendental_flops
        steps = (grid.time_steps or 1) if t.time else 1
        points = float(grid.points * steps)
        flops: float
        if op in ("add", "sub", "mul", "truediv"):
            flops = (len(node.args) - 1) * e_out
        elif op == "pow":
            flops = trans * e_out
        elif op == "neg":
            flops = e_out
        elif op == "grad":
            flops = 2.0 * d * e_in
        elif op == "div":
            flops = (3.0 * d - 1.0) * e_out
        elif op == "curl":
            flops = (15.0 if d == 3 else 5.0) * points
        elif op == "lap":
            flops = (5.0 * d - 1.0) * e_out
        elif op == "ddt":
            flops = 2.0 * e_out
        elif op == "dalembert":
            flops = (5.0 * d + 5.0) * e_out
        elif op == "outer":
            flops = e_out
        elif op == "dot":
            flops = (2.0 * (args[0].components or 1) - 1.0) * points
        elif op == "cross":
            flops = (9.0 if args[0].components == 3 else 3.0) * points
        elif op in ("oplus", "ominus"):
            flops = (len(node.args) + 2) * e_out + 1.0
        elif op == "call":
            return self.call_flops(node, t, args, e_out, e_in)
        elif op in ("delay", "tuple"):
            flops = 0.0
        else:
            flops = 1.0
        return flops * (COMPLEX_FACTOR if t.complex or any(a.complex for a in args) else 1)

    def call_flops(self, node: Node, t: FieldType, args: list[FieldType], e_out: float, e_in: float) -> float:
        name, d, trans = str(node.value), self.grid.rank, self.model.transcendental_flops
        points = float(self.grid.points)
        cx = COMPLEX_FACTOR if any(a.complex for a in args) else 1
        if name in ("norm", "energy"):
            return (2.0 * e_in + 2.0) * cx
        if name in ("sum", "mean", "max", "min", "finite", "abs", "conj", "real", "imag"):
            return e_in * cx
        if name in ("sqrt", "exp", "sin", "cos", "phase"):
            return trans * e_in * cx
        if name == "entropy":
            return (trans + 6.0) * e_in * cx
        if name == "interfere":
            return COMPLEX_FACTOR * (2.0 * len(node.args) + 2.0) * e_out
        if name == "sample":
            draws = float(t.length or 0)
            return 4.0 * e_in * cx + draws * math.ceil(math.log2(max(e_in, 2.0)))
        if name == "gaussian":
            return (3.0 * d + trans) * points
        if name == "plane_wave":
            return (2.0 * d + 2.0 * trans) * points
        if name == "random":
            return 6.0 * (2.0 * d + trans) * points
        return 0.0

    def sign(self, node: Node, t: FieldType, signs: list[Sign]) -> Sign:
        op = node.op
        result = ANY
        if op in ("add", "sub") and signs:
            result = signs[0]
            for s in signs[1:]:
                result = add_signs(result, negate(s) if op == "sub" else s)
        elif op in ("mul", "truediv") and signs:
            result = signs[0]
            for s in signs[1:]:
                result = mul_signs(result, s)
        elif op == "neg" and signs:
            result = negate(signs[0])
        elif op == "pow" and len(node.args) == 2:
            exponent = constant_value(node.args[1])
            if signs[0] == POS:
                result = POS
            elif exponent is not None and exponent.is_integer() and exponent % 2 == 0:
                result = POS if "0" not in signs[0] else NONNEG
        elif op == "call":
            result = _call_sign(node, signs)
        return as_complex(result) if t.complex else result


def _leaf_sign(node: Node) -> Sign:
    if node.op == "num" and isinstance(node.value, int | float):
        return number_sign(float(node.value))
    if node.op == "empty":
        return ZERO
    if node.op == "ref":
        return POS if node.value == "pi" else NONNEG if node.value in ("x", "y", "z", "t") else ANY
    return ANY


def _call_sign(node: Node, signs: list[Sign]) -> Sign:
    name = node.value
    first = signs[0] if signs else ANY
    if name in ("gaussian", "exp"):
        return POS  # exp of a real value is positive; a complex result keeps only "non-zero"
    if name == "plane_wave":
        return NONZERO
    if name == "zeros":
        return ZERO
    if name == "const":
        return first
    if name in ("norm", "energy", "entropy", "interfere"):
        return NONNEG
    if name == "abs":
        return POS if "0" not in first else NONNEG
    if name == "sqrt":
        return POS if first == POS else NONNEG if first <= NONNEG else ANY
    return ANY


def sheet_costs(cells: list[tuple[str, Node]], grid: GridSpec, model: CostModel | None = None) -> dict[str, Cost]:
    """Costs of a sheet's expanded cells in run order; each cell waits for the delay of those before it."""
    model = model or CostModel()
    costs: dict[str, Cost] = {}
    waited = 0.0
    for cell_id, expanded in cells:
        cost = estimate_cost(expanded, grid, model=model, queue_wait=waited)
        costs[cell_id] = cost
        waited += cost.delay
    return costs
