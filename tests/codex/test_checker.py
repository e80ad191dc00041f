"""The checker's model: order, types and shapes, dependencies, expansion, main input, EIDs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from stages.codex.ast import Node, call, num, ref
from stages.codex.checker import CheckedSheet, compile_sheet
from stages.codex.eids import eid_for
from stages.codex.errors import CodexErrors
from stages.codex.parser import parse_expr
from stages.codex.types import FieldType


def cells(checked: CheckedSheet) -> dict[str, object]:
    return {c.id: c for c in checked.cells}


def type_of(text: str, expr: str) -> tuple[dict[str, object], list[int]]:
    checked = compile_sheet(text + f"\ncell probe : {expr}\n")
    probe = cells(checked)["probe"]
    return probe.type.to_json(), list(probe.shape)  # type: ignore[attr-defined]


def errors_of(text: str) -> list[str]:
    with pytest.raises(CodexErrors) as info:
        compile_sheet(text)
    return [e.message for e in info.value.errors]


def test_heat_and_waves_model(heat_source: str) -> None:
    checked = compile_sheet(heat_source, "heat.codex")
    by_id = {c.id: c for c in checked.cells}
    gauss = call("gaussian", center=Node("tuple", (num(0.5), num(0.5))), width=num(0.1))
    heat = by_id["heat"]
    assert heat.deps == ("u", "dt", "k")
    assert heat.expanded == parse_expr(
        "gaussian(center=(0.5, 0.5), width=0.1) + 0.0001 * ∇·(const(1.0) * ∇gaussian(center=(0.5, 0.5), width=0.1))")
    assert heat.expanded_goal == Node("lt", (ref("energy"), call("energy", gauss)))
    assert heat.main_input == gauss
    step = by_id["step"]
    assert step.expanded == Node("evolve", (num(200), gauss, parse_expr("u + 0.0001 * Δu")), "u")
    assert by_id["flux"].type == FieldType("field", components=4) and by_id["flux"].shape == (64, 64, 4)
    assert by_id["fringe"].main_input == call("plane_wave", k=Node("tuple", (num(4), num(0))))
    assert checked.groups == (("heat", "lap"), ("flux",), ("fringe",), ("step",))
    digest = hashlib.blake2b(b"heat,lap", digest_size=16).hexdigest()
    assert checked.eid_of("lap", "run9") == f"eid::run9::{digest}" == eid_for("run9", ["lap", "heat"])
    assert checked.eids("run9")[f"eid::run9::{digest}"] == ["heat", "lap"]


def test_cells_come_after_the_cells_they_use() -> None:
    checked = compile_sheet("cell c : b + a\ncell a : x\nlet l = a * 2\ncell b : l\ncell d : x\n")
    assert [c.id for c in checked.cells] == ["a", "b", "c", "d"]
    assert cells(checked)["c"].deps == ("b", "a")  # type: ignore[attr-defined]
    assert cells(checked)["c"].expanded == parse_expr("x * 2 + x")  # type: ignore[attr-defined]


SHAPE_CASES = [
    ("grid 8x4", "∇x", {"kind": "field", "components": 2, "time": False, "complex": False}, [8, 4, 2]),
    ("grid 8x4", "∇·∇x", {"kind": "field", "components": None, "time": False, "complex": False}, [8, 4]),
    ("grid 8x4", "∇×∇x", {"kind": "field", "components": None, "time": False, "complex": False}, [8, 4]),
    ("grid 4x4x4", "∇×∇x", {"kind": "field", "components": 3, "time": False, "complex": False}, [4, 4, 4, 3]),
    ("grid 8x4", "∇x ⊗ ∇y", {"kind": "field", "components": 4, "time": False, "complex": False}, [8, 4, 4]),
    ("grid 8x4", "x ⊗ y", {"kind": "field", "components": None, "time": False, "complex": False}, [8, 4]),
    ("grid 8x4", "∇x • ∇y", {"kind": "field", "components": None, "time": False, "complex": False}, [8, 4]),
    ("grid 8x4", "∇x × ∇y", {"kind": "field", "components": None, "time": False, "complex": False}, [8, 4]),
    ("grid 4x4x4", "∇x × ∇y", {"kind": "field", "components": 3, "time": False, "complex": False}, [4, 4, 4, 3]),
    ("grid 8x4", "x * ∇y", {"kind": "field", "components": 2, "time": False, "complex": False}, [8, 4, 2]),
    ("grid 8", "plane_wave(k=(3,))", {"kind": "field", "components": None, "time": False, "complex": True}, [8]),
    ("grid 8", "abs(plane_wave(k=(3,)))", {"kind": "field", "components": None, "time": False, "complex": False}, [8]),
    ("grid 8", "mean(plane_wave(k=(3,)))", {"kind": "number", "components": None, "time": False, "complex": True}, []),
    ("grid 8", "norm(x) + 1", {"kind": "number", "components": None, "time": False, "complex": False}, []),
    ("grid 8", "finite(x)", {"kind": "bool", "components": None, "time": False, "complex": False}, []),
    ("grid 8", "sample(x, 5)", {"kind": "field", "components": None, "time": False, "complex": False}, [5]),
    ("grid 8 time 5 step 0.1", "sin(x - t)", {"kind": "field", "components": None, "time": True, "complex": False},
     [5, 8]),
    ("grid 8 time 5 step 0.1", "□sin(x - t) + d/dt t + ⧖1 t",
     {"kind": "field", "components": None, "time": True, "complex": False}, [5, 8]),
    ("grid 8", "∅ + ∇x", {"kind": "field", "components": 1, "time": False, "complex": False}, [8, 1]),
    ("grid 8", "interfere(plane_wave(k=(1,)), plane_wave(k=(2,)), weights=(1, 2))",
     {"kind": "field", "components": None, "time": False, "complex": False}, [8]),
    ("grid 8", "⟲3 (p = const(1.0)) ← p * plane_wave(k=(1,))",
     {"kind": "field", "components": None, "time": False, "complex": True}, [8]),
]


@pytest.mark.parametrize(("grid", "expr", "expected", "shape"), SHAPE_CASES)
def test_types_and_shapes(grid: str, expr: str, expected: dict[str, object], shape: list[int]) -> None:
    assert type_of(grid, expr) == (expected, shape)


@pytest.mark.parametrize(("text", "message"), [
    ("grid 8\ncell a : ∇×∇x", "∇× needs a 2-D or 3-D grid; this grid is 1-D"),
    ("grid 8x8\ncell a : ∇∇x", "∇ expects a scalar field, got a vector field (∇x)"),
    ("grid 8x8\ncell a : x • y", "• expects two vector fields, got a scalar field (x)"),
    ("grid 4x4x4\ncell a : ∇x × ∇x ⊗ ∇x", "× needs vectors with the same number of components, got 3 and 9"),
    ("grid 8\ncell a : y", "'y' needs a 2-D grid; this grid is 1-D"),
    ("grid 8\ncell a : t", "'t' needs a grid with a time axis"),
    ("grid 8 time 2 step 0.1\ncell a : □t", "□ needs at least 3 time steps; the grid has 2"),
    ("cell a : ⧖1.5 t", "'t' needs a grid with a time axis"),
    ("grid 8 time 4 step 1\ncell a : ⧖1.5 t", "the delay must be a whole number of steps, got 1.5"),
    ("cell a : x ⊕ 1", "⊕ superposes fields, got a number (1)"),
    ("cell a : norm(3)", "norm expects a field, got a number (3)"),
    ("cell a : gaussian(0.5)", "gaussian takes 0 positional arguments, got 1"),
    ("cell a : gaussian(centre=0.5)", "gaussian has no keyword argument 'centre'"),
    ("grid 8x8\ncell a : plane_wave(k=(1, 2, 3))", "plane_wave: k needs 2 numbers, got 3"),
    ("cell a : sample(x, -1)", "sample: the number of samples must be a whole number ≥ 0 written in the sheet, got -1"),
    ("cell a : sample(x, norm(x))", "sample: the number of samples must be a whole number ≥ 0 written in the sheet, "
                                    "got norm(x)"),
    ("cell a : (1, 2)", "a cell's value must be a field, a number or a truth value, got a tuple ((1, 2))"),
    ("cell a : score.qscore", "dotted names like score.qscore are only for SoulLaw policies"),
    ("cell a : norm", "'norm' is a function; call it as norm(…)"),
    ("cell a : lap", "'lap' needs an operand"),
    ("cell a : x < 1 + ⊤", "+ expects numbers or fields, got a truth value (⊤)"),
    ("cell a : ⟲2.5 (v = x) ← v", "the step count of ⟲ must be a whole number ≥ 0 written in the sheet (or a param), "
                                  "got 2.5"),
    ("param n = -2\ncell a : ⟲n (v = x) ← v", "the step count of ⟲ must be a whole number ≥ 0 written in the sheet "
                                              "(or a param), got n"),
    ("cell a : x goal: ∇x", "a goal is a predicate or a target of the cell's own type; this goal is a vector field, "
                            "the cell is a scalar field"),
    ("cell a : x goal: energy(x) < 1 ∧ 2", "∧ expects truth values, got a number (2)"),
    ("let u = x\nu ↔ u", "'u' is a let; only cells can be entangled"),
    ("cell a : load(\"f.npy\")", "load() needs a configured data directory"),
    ("cell a : 1 < plane_wave(k=(1,)) → mean", "< needs real numbers, got a complex number (mean(plane_wave(k=(1,))))"),
])
def test_type_errors(text: str, message: str) -> None:
    assert message in errors_of(text)


def test_goals_may_be_targets_of_the_cells_type() -> None:
    checked = compile_sheet("let u = gaussian()\ncell a : Δu goal: Δu * 0\ncell b : norm(u) goal: 3\n")
    assert cells(checked)["a"].expanded_goal == parse_expr("Δgaussian() * 0")  # type: ignore[attr-defined]


def test_entanglements_merge_transitively() -> None:
    text = "cell a : x\ncell b : x\ncell c : x\ncell d : x\na ↔ b\nc ↔ b\n"
    assert compile_sheet(text).groups == (("a", "b", "c"), ("d",))


def test_params_fold_into_evolve_counts_and_delays() -> None:
    checked = compile_sheet("grid 8 time 6 step 0.1\nparam n = 4\nparam k = 2\nlet u = sin(x - t)\n"
                            "cell a : ⟲n u ← u + ⧖k u\n")
    assert cells(checked)["a"].expanded == Node(  # type: ignore[attr-defined]
        "evolve", (num(4), parse_expr("sin(x - t)"), parse_expr("u + delay(u, 2)")), "u")


def test_nested_evolve_keeps_the_inner_start_bound_to_the_outer_variable() -> None:
    checked = compile_sheet("let u = x\ncell a : ⟲2 u ← (⟲3 u ← Δu) + u\n")
    inner = cells(checked)["a"].expanded.args[2].args[0]  # type: ignore[attr-defined]
    assert inner == Node("evolve", (num(3), ref("u"), parse_expr("Δu")), "u")


def test_main_input_follows_cells_and_skips_numbers() -> None:
    checked = compile_sheet("param p = 2\nlet n = norm(x)\nlet u = zeros()\ncell a : n * u\ncell b : p * a\n"
                            "cell c : 1 + 2\n")
    by_id = cells(checked)
    assert by_id["a"].main_input == call("zeros")  # type: ignore[attr-defined]
    assert by_id["b"].main_input == call("zeros")  # type: ignore[attr-defined]
    assert by_id["c"].main_input is None  # type: ignore[attr-defined]


def test_inlining_that_explodes_is_refused() -> None:
    text = "let a0 = x\n" + "".join(f"let a{i} = a{i - 1} + a{i - 1}\n" for i in range(1, 16)) + "cell c : a15\n"
    assert any("nodes once lets and cells are inlined" in m for m in errors_of(text))


def test_load_reads_the_shape_from_the_npy_header(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.zeros((8, 4, 2), dtype=complex))
    checked = compile_sheet('grid 8x4\ncell a : load("f.npy")\n', data_dir=str(tmp_path))
    assert cells(checked)["a"].type == FieldType("field", components=2, complex=True)  # type: ignore[attr-defined]
    np.save(tmp_path / "bad.npy", np.zeros((3,)))
    for name, message in [("bad.npy", "does not fit the grid"), ("../f.npy", "without '..'"),
                          ("nope.npy", "no such file"), ("f.txt", "only .npy files")]:
        with pytest.raises(CodexErrors, match=message):
            compile_sheet(f'grid 8x4\ncell a : load("{name}")\n', data_dir=str(tmp_path))


@pytest.mark.parametrize(("grid", "expr", "expected", "shape"), SHAPE_CASES)
def test_static_shapes_match_the_reference_interpreter(grid: str, expr: str, expected: dict[str, object],
                                                        shape: list[int]) -> None:
    """The checker's type/shape is what the NumPy oracle actually produces."""
    from stages.codex.interpreter import evaluate

    checked = compile_sheet(grid + f"\ncell probe : {expr}\n")
    probe = checked.cells[0]
    value = evaluate(probe.expanded, checked.sheet.grid, seed=3)
    if probe.type.kind == "bool":
        assert isinstance(value, bool)
    elif probe.type.kind == "number":
        assert isinstance(value, float | complex) and isinstance(value, complex) == probe.type.complex
    else:
        array = np.asarray(value)
        assert list(array.shape) == shape
        assert np.iscomplexobj(array) == probe.type.complex


def test_a_sheet_without_cells_is_an_error() -> None:
    assert errors_of("grid 8\nlet u = x\n") == ["the sheet has no cells, so nothing would run"]
    assert errors_of("") == ["the sheet has no cells, so nothing would run"]
