"""Reference interpreter: every node kind of ast.py's catalogue, evaluated on small grids."""

from __future__ import annotations

import numpy as np
import pytest

from stages.codex import operators as ops
from stages.codex.ast import EMPTY, Node, call, num, ref
from stages.codex.grid import GridSpec
from stages.codex.interp_values import Field, Layout
from stages.codex.interpreter import InterpreterError, evaluate, evaluate_with_trace

TWO_PI = 2 * np.pi
G1 = GridSpec(shape=(64,), spacing=TWO_PI / 64)
G2 = GridSpec(shape=(32, 32), spacing=TWO_PI / 32)
G3 = GridSpec(shape=(12, 10, 8), spacing=0.1)
GT = GridSpec(shape=(16,), spacing=TWO_PI / 16, time_steps=6, dt=0.05)


def op(name: str, *args: Node, value: object = None) -> Node:
    return Node(name, args=tuple(args), value=value)  # type: ignore[arg-type]


def tup(*values: float) -> Node:
    return Node("tuple", args=tuple(num(v) for v in values))


def coords(grid: GridSpec) -> list[np.ndarray]:
    return list(np.meshgrid(*[np.arange(n) * grid.spacing for n in grid.shape], indexing="ij"))


def test_numbers_arithmetic_and_pi() -> None:
    expr = op("add", op("mul", num(2), ref("pi")), op("pow", num(2), num(10)), op("truediv", num(1), num(4)))
    assert evaluate(expr, G1) == pytest.approx(2 * np.pi + 1024 + 0.25)
    assert isinstance(evaluate(op("sub", num(3), num(1)), G1), float)
    assert evaluate(op("neg", num(3)), G1) == -3.0


def test_coordinate_fields_follow_the_grid() -> None:
    x, y, z = (evaluate(ref(n), G3) for n in "xyz")
    assert x.shape == y.shape == z.shape == (12, 10, 8)
    assert (
        x[3, 0, 0] == pytest.approx(0.3)
        and y[0, 4, 0] == pytest.approx(0.4)
        and z[0, 0, 7] == pytest.approx(0.7)
    )
    assert np.all(x[3] == x[3, 0, 0])
    t = evaluate(ref("t"), GT)
    assert t.shape == (6, 16) and t[4, 9] == pytest.approx(0.2)
    with pytest.raises(InterpreterError, match="^y:"):
        evaluate(ref("y"), G1)
    with pytest.raises(InterpreterError, match="^t:"):
        evaluate(ref("t"), G1)


def test_laplacian_of_a_coordinate_expression_in_two_dimensions() -> None:
    u = op("mul", call("sin", op("mul", num(2), ref("x"))), call("cos", ref("y")))
    x, y = coords(G2)
    lap = evaluate(op("lap", u), G2)
    assert np.allclose(lap, -5 * np.sin(2 * x) * np.cos(y), atol=5 * (2 * G2.spacing) ** 2)


def test_gradient_divergence_curl_layouts() -> None:
    u = op("mul", ref("x"), ref("y"))
    assert evaluate(op("grad", u), G2).shape == (32, 32, 2)
    assert evaluate(op("div", op("grad", u)), G2).shape == (32, 32)
    assert np.max(np.abs(evaluate(op("curl", op("grad", u)), G2))) < 1e-9
    curl3 = evaluate_with_trace(op("curl", op("grad", op("mul", ref("x"), ref("z")))), G3)
    assert curl3.layout == Layout(components=3) and np.max(np.abs(curl3.value)) < 1e-9
    assert evaluate(op("grad", ref("x")), G1).shape == (64, 1)


def test_layout_aware_broadcasting() -> None:
    grad_u = op("grad", op("mul", ref("x"), ref("y")))
    scaled = evaluate(op("mul", ref("x"), grad_u), G2)  # scalar field scales every component
    x, _ = coords(G2)
    assert np.allclose(scaled, x[..., None] * evaluate(grad_u, G2))
    timed = evaluate(op("add", ref("t"), ref("x")), GT)  # spatial field is the same at every step
    assert timed.shape == (6, 16)
    assert np.allclose(timed[3], 0.15 + np.arange(16) * GT.spacing)
    with pytest.raises(InterpreterError, match="^add: component counts differ"):
        evaluate(
            op("add", ref("v2"), ref("v3")),
            G3,
            {"v2": Field(np.zeros((12, 10, 8, 2)), Layout(components=2)), "v3": np.zeros((12, 10, 8, 3))},
        )


def test_nary_add_mul_and_oplus() -> None:
    x, y = coords(G2)
    assert np.allclose(evaluate(op("add", ref("x"), ref("y"), num(1)), G2), x + y + 1)
    assert np.allclose(evaluate(op("mul", ref("x"), ref("y"), num(2)), G2), 2 * x * y)
    s = evaluate(op("oplus", ref("x"), ref("y"), num(1)), G2)
    assert ops.norm(s, G2.spacing, 2, np) == pytest.approx(1.0)
    assert np.allclose(s * ops.norm(x + y + 1, G2.spacing, 2, np), x + y + 1)


def test_superposition_and_cancellation() -> None:
    a = call("gaussian", center=tup(0.3, 0.6), width=num(0.1))
    b = call("plane_wave", k=tup(2, 1))
    ab = evaluate(call("norm", op("oplus", a, b)), G2)
    assert ab == pytest.approx(1.0)
    zero = evaluate(op("ominus", a, a), G2)
    assert zero.shape == (32, 32) and np.all(zero == 0)
    assert np.array_equal(evaluate(EMPTY, G2), np.zeros((32, 32)))
    assert np.allclose(evaluate(op("oplus", a, EMPTY), G2), evaluate(op("oplus", a), G2))


def test_empty_field_adopts_the_layout_it_meets() -> None:
    grad_u = op("grad", op("mul", ref("x"), ref("y")))
    assert np.all(evaluate(op("dot", EMPTY, grad_u), G2) == 0)
    assert np.allclose(evaluate(op("add", grad_u, EMPTY), G2), evaluate(grad_u, G2))
    assert np.all(evaluate(op("outer", grad_u, EMPTY), G2) == 0)
    assert np.all(evaluate(op("lap", EMPTY), G2) == 0)


def test_products_dot_cross_outer() -> None:
    grad_u = op("grad", op("mul", call("sin", ref("x")), call("cos", ref("y"))))
    g = evaluate(grad_u, G2)
    flux = evaluate_with_trace(op("outer", grad_u, grad_u), G2)
    assert flux.layout == Layout(components=4)
    assert np.allclose(flux.value[..., 1], g[..., 0] * g[..., 1])
    assert np.allclose(evaluate(op("dot", grad_u, grad_u), G2), np.sum(g * g, axis=-1))
    assert np.allclose(evaluate(op("outer", ref("x"), ref("y")), G2), np.prod(coords(G2), axis=0))
    g3 = op("grad", op("mul", ref("x"), ref("y"), ref("z")))
    assert np.max(np.abs(evaluate(op("cross", g3, g3), G3))) == 0
    assert evaluate(op("cross", grad_u, grad_u), G2).shape == (32, 32)
    with pytest.raises(InterpreterError, match="^dot:"):
        evaluate(op("dot", ref("x"), grad_u), G2)


def test_functions_on_complex_fields() -> None:
    psi = call("plane_wave", k=tup(3))
    x = np.arange(64) * G1.spacing
    assert np.allclose(evaluate(psi, G1), np.exp(3j * x))
    assert np.allclose(evaluate(call("abs", psi), G1), 1.0)
    assert np.allclose(evaluate(call("real", psi), G1), np.cos(3 * x))
    assert np.allclose(evaluate(call("imag", call("conj", psi)), G1), -np.sin(3 * x))
    assert np.allclose(evaluate(call("phase", psi), G1), np.angle(np.exp(3j * x)))
    assert np.allclose(evaluate(call("exp", call("sqrt", num(4))), G1), np.exp(2))
    mean = evaluate(call("mean", op("add", psi, num(2))), G1)
    assert isinstance(mean, complex) and mean == pytest.approx(2.0)
    assert evaluate(call("max", op("mul", psi, psi)), G1) == pytest.approx(1.0)  # of the real part


def test_reductions_use_the_grid_measure() -> None:
    one = call("const", num(1.0))
    assert evaluate(call("sum", one), G3) == 960.0
    assert evaluate(call("norm", one), G3) == pytest.approx(np.sqrt(960 * 0.1**3))
    assert evaluate(call("energy", one), G3) == pytest.approx(0.5 * 960 * 0.1**3)
    assert evaluate(call("entropy", one), G3) == pytest.approx(np.log2(960))
    assert evaluate(call("finite", one), G3) is True
    assert evaluate(call("min", ref("x")), G3) == 0.0 and evaluate(
        call("max", ref("x")), G3
    ) == pytest.approx(1.1)


def test_non_finite_values_propagate_without_raising() -> None:
    blown = op("truediv", num(1), EMPTY)
    assert evaluate(call("finite", blown), G2) is False
    assert np.isnan(evaluate(op("pow", num(-8), num(1 / 3)), G2))


def test_initialisers() -> None:
    g = evaluate(call("gaussian", center=tup(0.25, 0.5), width=num(0.1)), G2)
    assert tuple(int(i) for i in np.unravel_index(np.argmax(g), g.shape)) == (
        8,
        16,
    ) and g.max() == pytest.approx(1.0)
    # width is a fraction of the box: one standard deviation = 0.1·L = 3.2 grid steps
    assert g[8, 16 + 3] / g[8, 16] == pytest.approx(np.exp(-(3**2) / (2 * 3.2**2)))
    assert np.all(evaluate(call("const", num(2.5)), G3) == 2.5)
    assert np.all(evaluate(call("zeros"), G3) == 0)
    with pytest.raises(InterpreterError, match="^plane_wave:"):
        evaluate(call("plane_wave", k=tup(1, 2, 3)), G2)


def test_random_is_smooth_seeded_and_bounded() -> None:
    a = evaluate(call("random", seed=num(7)), G2)
    assert np.array_equal(a, evaluate(call("random", seed=num(7)), G2))
    assert not np.array_equal(a, evaluate(call("random", seed=num(8)), G2))
    assert np.max(np.abs(a)) == pytest.approx(1.0)
    assert np.array_equal(evaluate(call("random"), G2, seed=7), a)  # default seed = evaluation seed
    # Smooth: the same seed samples one continuous function at any resolution, and its
    # Laplacian converges instead of growing like 1/h² as a rough field's would.
    fine = GridSpec(shape=(64, 64), spacing=G2.spacing / 2)
    restricted = evaluate(call("random", seed=num(7)), fine)[::2, ::2]  # scaled by its own peak
    assert np.allclose(restricted, a * (np.max(np.abs(restricted)) / np.max(np.abs(a))))
    lap_coarse = evaluate(op("lap", call("random", seed=num(7))), G2)
    lap_fine = (
        evaluate(op("lap", call("random", seed=num(7))), fine)[::2, ::2]
        * np.max(np.abs(a))
        / np.max(np.abs(restricted))
    )
    assert np.max(np.abs(lap_fine - lap_coarse)) < 0.1 * np.max(np.abs(lap_coarse))


def test_interfere_fringe_maximum_is_four() -> None:
    fringe = call("interfere", call("plane_wave", k=tup(4, 0)), call("plane_wave", k=tup(0, 4)))
    assert evaluate(call("max", fringe), G2) == pytest.approx(4.0)
    shifted = call(
        "interfere",
        call("plane_wave", k=tup(4, 0)),
        call("plane_wave", k=tup(4, 0)),
        weights=tup(1, 2),
        phases=tup(0, np.pi),
    )
    assert np.allclose(evaluate(shifted, G2), 1.0)


def test_sample_is_reproducible_and_follows_the_born_rule() -> None:
    psi = call("gaussian", center=tup(0.5, 0.5), width=num(0.15))
    draws = evaluate(call("sample", psi, num(50)), G2, seed=3)
    assert draws.dtype == np.int64 and draws.shape == (50,)
    assert np.array_equal(draws, evaluate(call("sample", psi, num(50)), G2, seed=3))
    assert not np.array_equal(draws, evaluate(call("sample", psi, num(50)), G2, seed=4))
    two_points = np.zeros((32, 32))
    two_points[1, 2], two_points[5, 6] = 1.0, np.sqrt(3.0)  # |ψ|² = 1 : 3
    many = evaluate(call("sample", ref("psi"), num(4000)), G2, {"psi": two_points})
    assert set(np.unique(many)) == {1 * 32 + 2, 5 * 32 + 6}
    assert np.mean(many == 5 * 32 + 6) == pytest.approx(0.75, abs=0.03)
    with pytest.raises(InterpreterError, match="^sample:"):
        evaluate(call("sample", EMPTY, num(3)), G2)


def test_time_axis_operators() -> None:
    assert np.allclose(evaluate(op("ddt", ref("t")), GT), 1.0)
    t2 = op("mul", ref("t"), ref("t"))
    assert np.allclose(evaluate(op("ddt", t2), GT), 2 * evaluate(ref("t"), GT))
    delayed = evaluate(op("delay", ref("t"), num(2)), GT)
    assert np.allclose(delayed[:, 0], [0, 0, 0, 0.05, 0.1, 0.15])
    wave = call("sin", op("sub", ref("x"), ref("t")))  # □ sin(x − t) = 0 up to O(h², dt²)
    assert np.max(np.abs(evaluate(op("dalembert", wave), GT))) < 0.15
    with pytest.raises(InterpreterError, match="^ddt: needs a field with a time axis"):
        evaluate(op("ddt", ref("x")), GT)


def test_bindings_arrays_and_numbers() -> None:
    field = np.arange(64.0).reshape(8, 8)
    grid = GridSpec(shape=(8, 8), spacing=1.0)
    assert np.allclose(evaluate(op("mul", ref("k"), ref("u")), grid, {"k": 2, "u": field}), 2 * field)
    vec = np.ones((8, 8, 2))
    assert evaluate_with_trace(ref("v"), grid, {"v": vec}).layout == Layout(components=2)
    with pytest.raises(InterpreterError, match="does not fit grid"):
        evaluate(ref("u"), grid, {"u": np.zeros((3, 3))})
    with pytest.raises(InterpreterError, match="unknown name 'nope'"):
        evaluate(ref("nope"), grid)


def test_json_round_trip_evaluates_identically() -> None:
    expr = op(
        "add", op("lap", call("gaussian", center=tup(0.5, 0.5), width=num(0.2))), op("mul", num(3), ref("x"))
    )
    assert np.array_equal(evaluate(Node.from_json(expr.to_json()), G2), evaluate(expr, G2))


def test_errors_name_the_operator_and_are_value_errors() -> None:
    cases = [
        (op("div", ref("x")), "div"),
        (op("grad", op("grad", ref("x"))), "grad"),
        (op("curl", op("grad", ref("x"))), "curl"),
        (call("nosuch", ref("x")), "nosuch"),
        (call("norm", num(3)), "norm"),
        (call("load", Node("str", value="a.npy")), "load"),
        (op("lt", ref("x"), num(1)), "lt"),
        (Node("bogus"), "bogus"),
    ]
    for expr, name in cases:
        with pytest.raises(ValueError, match=f"^{name}:") as info:
            evaluate(expr, G1)
        assert isinstance(info.value, InterpreterError) and info.value.op == name
