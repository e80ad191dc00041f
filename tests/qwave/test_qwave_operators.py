"""Every operator compiled by QWave agrees with the NumPy reference interpreter.

Inputs are random (not smooth) fields bound to input slots, in 1-D, 2-D and 3-D
where the operator applies, on every boundary rule for the spatial derivatives.
Tolerance per dtype: QWave computes real fields in float32 and complex fields in
complex64 (float32 parts), the reference in float64 / complex128, so
max|qwave − reference| ≤ TOLERANCE[dtype] · max(max|reference|, 1) (relative to
the largest entry: finite differences divide by h and h², and rounding of the
float32 inputs is amplified exactly as much as the result itself). float32 has a
unit roundoff of 6e-8; the worst gaps measured on these seeded inputs (XLA CPU)
are 2.5e-7 (float32) and 2.7e-7 (complex64), so 2e-6 for both leaves ~8x room for
another backend's operation order while still failing on any wrong stencil,
boundary or sign (those are O(1) errors). Each check also asserts QWave returned
the dtype whose tolerance it was held to.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from qwave_helpers import relative_gap

from stages.codex.ast import Node, num
from stages.codex.grid import GridSpec
from stages.codex.interp_values import Field, Layout
from stages.codex.interpreter import evaluate
from stages.qwave.compiler import run_program
from stages.qwave.formats import PrecisionPlan
from stages.qwave.program import Program

TOLERANCE = {"float32": 2e-6, "complex64": 2e-6}
SHAPES = {1: (24,), 2: (12, 10), 3: (6, 5, 4)}
TIME_STEPS = 6
FP32 = PrecisionPlan.uniform("fp32")

Maker = Callable[[GridSpec, np.random.Generator], Field]


def grid_of(rank: int, boundary: str = "periodic") -> GridSpec:
    return GridSpec(SHAPES[rank], 0.3, boundary, TIME_STEPS, 0.05)  # type: ignore[arg-type]


def scalar(grid: GridSpec, rng: np.random.Generator) -> Field:
    return Field(rng.standard_normal(grid.shape))


def positive(grid: GridSpec, rng: np.random.Generator) -> Field:
    return Field(0.5 + rng.random(grid.shape))


def complex_field(grid: GridSpec, rng: np.random.Generator) -> Field:
    return Field(rng.standard_normal(grid.shape) + 1j * rng.standard_normal(grid.shape))


def vector(grid: GridSpec, rng: np.random.Generator) -> Field:
    return Field(rng.standard_normal((*grid.shape, grid.rank)), Layout(components=grid.rank))


def timed(grid: GridSpec, rng: np.random.Generator) -> Field:
    return Field(rng.standard_normal((TIME_STEPS, *grid.shape)), Layout(time=True))


def timed_vector(grid: GridSpec, rng: np.random.Generator) -> Field:
    shape = (TIME_STEPS, *grid.shape, grid.rank)
    return Field(rng.standard_normal(shape), Layout(time=True, components=grid.rank))


def slot(i: int) -> Node:
    return Node("ref", value=f"${i}")


def qwave_dtype(value: object) -> str:
    """The dtype QWave computed ``value`` in: arrays carry it; numbers come from 0-d float32/complex64."""
    if isinstance(value, np.ndarray):
        return str(value.dtype)
    return "complex64" if isinstance(value, complex) else "float32"


def check(structure: Node, grid: GridSpec, inputs: list[Field]) -> None:
    bindings = {f"${i}": f for i, f in enumerate(inputs)}
    expected = evaluate(structure, grid, bindings)
    program = Program(structure, (), f"test:{structure.to_json()}")
    actual = run_program(program, grid, FP32, inputs).value
    if isinstance(expected, bool):
        assert actual is expected
        return
    reference = np.asarray(expected)
    dtype = qwave_dtype(actual)
    assert dtype == ("complex64" if reference.dtype.kind == "c" else "float32"), (dtype, structure)
    gap = relative_gap(actual, reference)
    assert gap <= TOLERANCE[dtype], (dtype, gap, structure)


def unary(op: str) -> Node:
    return Node(op, (slot(0),))


def call(name: str, *args: Node, **kw: Node) -> Node:
    return Node("call", tuple(args), name, tuple(sorted(kw.items())))


SPATIAL = [
    ("grad", scalar, (1, 2, 3)),
    ("grad-complex", complex_field, (2,)),
    ("div", vector, (1, 2, 3)),
    ("curl", vector, (2, 3)),
    ("lap", scalar, (1, 2, 3)),
    ("lap-vector", vector, (2,)),
    ("lap-complex", complex_field, (3,)),
    ("grad-timed", timed, (2,)),
    ("div-timed", timed_vector, (2,)),
]


@pytest.mark.parametrize("boundary", ["periodic", "neumann", "dirichlet"])
@pytest.mark.parametrize(("name", "maker", "ranks"), SPATIAL, ids=[s[0] for s in SPATIAL])
def test_spatial_derivatives_match_reference(name: str, maker: Maker, ranks: tuple[int, ...], boundary: str) -> None:
    rng = np.random.default_rng(7)
    # Every rank on the periodic grid; the padded boundary rules on the largest and smallest rank.
    chosen = ranks if boundary == "periodic" else (max(ranks),) if boundary == "neumann" else (min(ranks),)
    for rank in chosen:
        grid = grid_of(rank, boundary)
        check(unary(name.split("-")[0]), grid, [maker(grid, rng)])


@pytest.mark.parametrize("rank", [1, 3])
def test_time_operators_match_reference(rank: int) -> None:
    rng = np.random.default_rng(rank)
    grid = grid_of(rank, "neumann")
    check(unary("ddt"), grid, [timed(grid, rng)])
    check(unary("dalembert"), grid, [timed(grid, rng)])
    check(Node("delay", (slot(0), num(2))), grid, [timed(grid, rng)])
    check(Node("delay", (slot(0), num(-1))), grid, [timed(grid, rng)])


BINARY = [
    ("add", scalar, scalar), ("sub", scalar, vector), ("mul", vector, scalar), ("truediv", scalar, positive),
    ("pow", positive, scalar), ("outer", vector, vector), ("outer", scalar, vector), ("outer", scalar, scalar),
    ("dot", vector, vector), ("cross", vector, vector), ("oplus", scalar, complex_field),
    ("ominus", vector, vector), ("add", timed, scalar), ("mul", complex_field, complex_field),
]


@pytest.mark.parametrize(("op", "left", "right"), BINARY, ids=[f"{b[0]}-{i}" for i, b in enumerate(BINARY)])
def test_binary_operators_match_reference(op: str, left: Maker, right: Maker) -> None:
    rng = np.random.default_rng(3)
    ranks = (2, 3) if op == "cross" else (1, 2, 3)
    for rank in ranks:
        grid = grid_of(rank)
        check(Node(op, (slot(0), slot(1))), grid, [left(grid, rng), right(grid, rng)])


def test_nary_sum_product_and_superposition_match_reference() -> None:
    rng = np.random.default_rng(4)
    grid = grid_of(2)
    inputs = [scalar(grid, rng) for _ in range(3)]
    for op in ("add", "mul", "oplus"):
        check(Node(op, (slot(0), slot(1), slot(2), num(2.5))), grid, inputs)


FUNCTIONS = ["abs", "sqrt", "exp", "sin", "cos", "conj", "phase", "real", "imag",
             "norm", "energy", "mean", "max", "min", "sum", "entropy", "finite"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_match_reference(name: str) -> None:
    rng = np.random.default_rng(5)
    maker = positive if name == "sqrt" else complex_field if name in ("conj", "phase", "real", "imag") else scalar
    for rank in (1, 2, 3):
        grid = grid_of(rank)
        check(call(name, slot(0)), grid, [maker(grid, rng)])


def test_reductions_of_complex_and_vector_fields_match_reference() -> None:
    rng = np.random.default_rng(6)
    grid = grid_of(3)
    for name in ("norm", "mean", "max", "entropy"):
        check(call(name, slot(0)), grid, [complex_field(grid, rng)])
        check(call(name, slot(0)), grid, [vector(grid, rng)])


def test_interfere_with_weights_and_phases_matches_reference() -> None:
    rng = np.random.default_rng(8)
    grid = grid_of(2)
    weights = Node("tuple", (num(1.0), num(0.5)))
    phases = Node("tuple", (num(0.0), num(1.3)))
    inputs = [complex_field(grid, rng), complex_field(grid, rng)]
    check(call("interfere", slot(0), slot(1)), grid, inputs)
    check(call("interfere", slot(0), slot(1), weights=weights, phases=phases), grid, inputs)


def test_negation_numbers_and_predicates_match_reference() -> None:
    rng = np.random.default_rng(9)
    grid = grid_of(1)
    field = [scalar(grid, rng)]
    norm = call("norm", slot(0))
    check(Node("neg", (slot(0),)), grid, field)
    check(Node("mul", (num(2.0), Node("pow", (norm, num(2))))), grid, field)
    check(Node("lt", (norm, num(1e9))), grid, field)
    check(Node("and", (Node("gt", (norm, num(0.0))), Node("not", (Node("lt", (norm, num(0.0))),)))), grid, field)
    check(Node("approx", (call("max", slot(0)), call("max", slot(0)), num(1e-3))), grid, field)


def test_empty_field_passes_through_like_the_reference() -> None:
    rng = np.random.default_rng(10)
    grid = grid_of(2)
    empty = Node("empty")
    check(Node("add", (Node("grad", (empty,)), Node("grad", (slot(0),)))), grid, [scalar(grid, rng)])
    check(Node("oplus", (slot(0), empty)), grid, [scalar(grid, rng)])
    check(Node("dot", (empty, slot(0))), grid, [vector(grid, rng)])


def test_evolve_loop_matches_reference_and_reports_last_step() -> None:
    from stages.codex.interpreter import evaluate_with_trace

    rng = np.random.default_rng(12)
    grid = grid_of(2)
    body = Node("add", (Node("ref", value="u"), Node("mul", (num(0.001), Node("lap", (Node("ref", value="u"),))))))
    structure = Node("evolve", (num(25), slot(0), body), value="u")
    inputs = [scalar(grid, rng)]
    check(structure, grid, inputs)
    reference = evaluate_with_trace(structure, grid, {"$0": inputs[0]})
    result = run_program(Program(structure, (), "evolve-trace"), grid, FP32, inputs)
    assert reference.evolve is not None and reference.evolve.last_step_norm is not None
    assert result.last_step_norm == pytest.approx(reference.evolve.last_step_norm, rel=1e-4)


def test_evolve_from_empty_and_into_complex_matches_reference() -> None:
    rng = np.random.default_rng(13)
    grid = grid_of(1)
    u = Node("ref", value="u")
    grows = Node("evolve", (num(4), Node("empty"), Node("add", (u, slot(0)))), value="u")
    rotates = Node("evolve", (num(5), slot(0), Node("mul", (u, call("exp", slot(1))))), value="u")
    check(grows, grid, [scalar(grid, rng)])
    check(rotates, grid, [scalar(grid, rng), complex_field(grid, rng)])
