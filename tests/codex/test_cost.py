"""The cost model's documented formulas (cost.py docstring), checked on small grids."""

from __future__ import annotations

import pytest

from stages.codex.ast import Node, ref
from stages.codex.cost import COMPLEX_FACTOR, CostModel, estimate_cost, sheet_costs
from stages.codex.grid import GridSpec
from stages.codex.parser import parse_expr
from stages.codex.types import FieldType

G = GridSpec(shape=(64, 64), spacing=0.02)
N = 64 * 64


def flops(text: str, grid: GridSpec = G) -> float:
    return estimate_cost(parse_expr(text), grid).flops


@pytest.mark.parametrize(("text", "expected"), [
    ("u + v", N),
    ("u * v * w", 2 * N),
    ("-u", N),
    ("u ^ 2", 10 * N),
    ("∇u", 2 * 2 * N),  # 2 taps per derivative, d = 2 derivatives
    ("Δu", 9 * N),  # (5d − 1)
    ("∇·∇u", 4 * N + 5 * N),  # ∇ then ∇· (3d − 1)
    ("∇×∇u", 4 * N + 5 * N),
    ("∇u ⊗ ∇u", 2 * 4 * N + 4 * N),  # pointwise: one product per entry of the 4-component result
    ("∇u • ∇v", 2 * 4 * N + 3 * N),  # (2C − 1)
    ("u ⊕ v", 4 * N + 1),  # (k + 2)·E + 1
    ("norm(u)", 2 * N + 2),
    ("gaussian()", (3 * 2 + 10) * N),
    ("const(1.0) + zeros()", N),
    ("1 + 2", 1),
    ("⟲10 u ← u + 0.001 * Δu", 10 * (9 * N + N + N)),
])
def test_flop_formulas(text: str, expected: float) -> None:
    assert flops(text) == expected


def test_time_operators_and_complex_values() -> None:
    grid = GridSpec(shape=(16,), spacing=0.1, time_steps=8, dt=0.01)
    entries = 8 * 16
    assert flops("d/dt t", grid) == 2 * entries
    assert flops("□t", grid) == (5 * 1 + 5) * entries
    assert flops("⧖2 t", grid) == 0
    wave = (2 * 2 + 2 * 10) * N
    assert flops("plane_wave(k=(1, 0)) + plane_wave(k=(0, 1))") == 2 * wave + COMPLEX_FACTOR * N


def test_nary_nodes_from_rewrites_are_accepted() -> None:
    u, v, w = ref("u"), ref("v"), ref("w")
    assert estimate_cost(Node("add", (u, v, w)), G).flops == 2 * N
    assert estimate_cost(Node("oplus", (u, v, w)), G).flops == 5 * N + 1
    assert estimate_cost(Node("mul", (u, v, w, u)), G).flops == 3 * N


def test_types_of_free_references() -> None:
    vector = FieldType("field", components=2)
    assert estimate_cost(parse_expr("∇·q"), G, {"q": vector}).flops == 5 * N


def test_bytes_is_the_peak_working_set() -> None:
    cost = estimate_cost(parse_expr("u + v"), G)
    assert cost.bytes == 3 * 8 * N  # two operands held plus the result
    assert estimate_cost(parse_expr("(u + v) + w"), G).bytes == 3 * 8 * N
    assert estimate_cost(parse_expr("plane_wave(k=(1, 0))"), G).bytes == 16 * N + 8  # + the k tuple


def test_derived_dimensions() -> None:
    model = CostModel(joules_per_flop=2e-9, peak_flops=1e6, bandwidth=1e12, cost_threshold=1e3)
    cost = estimate_cost(parse_expr("Δu"), G, model=model, queue_wait=0.5)
    assert cost.energy == pytest.approx(9 * N * 2e-9)
    assert cost.delay == pytest.approx(9 * N / 1e6)
    assert cost.total == pytest.approx(9 * N / 1e3)
    assert cost.opportunity_loss == 0.5
    assert set(cost.to_json()) == {"flops", "bytes", "energy", "delay", "ethics_risk", "opportunity_loss",
                                   "total", "risk_flags", "cfl"}


@pytest.mark.parametrize(("body", "cfl"), [
    ("u + 0.0001 * Δu", 1.0),  # dt·2d/h² = 1e-4 · 4 / 4e-4: exactly at the limit, stable
    ("u + 0.0002 * Δu", 2.0),
    ("u + 0.0001 * ∇·(const(2.0) * ∇u)", 2.0),
    ("u + Δu * 0.0001 / 2", 0.5),
    ("u + 0.0001 * ∇·∇u - 0.00005 * Δu", 0.5),
])
def test_cfl_number_of_explicit_diffusion(body: str, cfl: float) -> None:
    cost = estimate_cost(parse_expr(f"⟲10 u ← {body}"), G)
    assert cost.cfl == pytest.approx(cfl)
    if cfl > 1:
        assert cost.risk_flags == ("cfl",)
        assert cost.ethics_risk == pytest.approx(1 - 1 / cfl)
    else:
        assert cost.risk_flags == () and cost.ethics_risk == 0


def test_backward_diffusion_is_always_unstable() -> None:
    cost = estimate_cost(parse_expr("⟲10 u ← u - 0.00001 * Δu"), G)
    assert cost.risk_flags == ("backward_diffusion",) and cost.ethics_risk == 1.0


def test_evolves_without_diffusion_have_no_cfl() -> None:
    assert estimate_cost(parse_expr("⟲10 u ← u * 0.5"), G).cfl is None
    assert estimate_cost(parse_expr("Δu"), G).cfl is None


@pytest.mark.parametrize(("text", "risky"), [
    ("u / x", True),  # x = 0 on the first grid line
    ("u / (x + 1)", False),
    ("u / gaussian()", False),
    ("u / exp(x)", False),
    ("u / (x * x + 0.5)", False),
    ("u / sin(x)", True),
    ("u / 0", True),
    ("u / 2", False),
    ("u / plane_wave(k=(1, 1))", False),
])
def test_division_by_a_field_that_can_reach_zero(text: str, risky: bool) -> None:
    cost = estimate_cost(parse_expr(text), G)
    assert (cost.risk_flags == ("division_by_zero",)) is risky
    assert cost.ethics_risk == (0.5 if risky else 0.0)


def test_memory_cap_and_combined_risk() -> None:
    model = CostModel(memory_cap=1000.0)
    cost = estimate_cost(parse_expr("u / x"), G, model=model)
    assert cost.risk_flags == ("division_by_zero", "memory_cap")
    assert cost.ethics_risk == 1.0
    assert estimate_cost(parse_expr("1 + 1"), G, model=model).risk_flags == ()


def test_sheet_costs_queue_each_cell_behind_the_previous_ones() -> None:
    cells = [("a", parse_expr("Δu")), ("b", parse_expr("u + v")), ("c", parse_expr("u"))]
    costs = sheet_costs(cells, G)
    assert costs["a"].opportunity_loss == 0
    assert costs["b"].opportunity_loss == pytest.approx(costs["a"].delay)
    assert costs["c"].opportunity_loss == pytest.approx(costs["a"].delay + costs["b"].delay)


def test_threshold_comes_from_flags() -> None:
    assert CostModel.from_flags({"COST_THRESHOLD": 10}).cost_threshold == 10.0
    assert CostModel.from_flags({}).cost_threshold == 2.0e5
