"""Evolve loops and their convergence trace, predicates, load(), and cross-dimension properties."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.codex.ast import EMPTY, Node, call, num, ref
from stages.codex.grid import GridSpec
from stages.codex.interp_init import random_field
from stages.codex.interpreter import (
    InterpreterError,
    evaluate,
    evaluate_predicate,
    evaluate_with_trace,
    observables,
)

G2 = GridSpec(shape=(24, 24), spacing=1 / 24)


def op(name: str, *args: Node, value: object = None) -> Node:
    return Node(name, args=tuple(args), value=value)  # type: ignore[arg-type]


def tup(*values: float) -> Node:
    return Node("tuple", args=tuple(num(v) for v in values))


def heat(steps: int, dt: float, init: Node) -> Node:
    """⟲steps u ← u + dt·Δu."""
    return op(
        "evolve", num(steps), init, op("add", ref("u"), op("mul", num(dt), op("lap", ref("u")))), value="u"
    )


def test_heat_equation_decays_energy_for_a_stable_step() -> None:
    h2 = G2.spacing**2
    bump = call("gaussian", center=tup(0.5, 0.5), width=num(0.1))
    e0 = evaluate(call("energy", bump), G2)
    result = evaluate_with_trace(heat(40, 0.2 * h2, bump), G2)  # stable: dt ≤ h²/(2d) = 0.25 h²
    assert observables(result.value, G2)["energy"] < 0.8 * e0
    trace = result.evolve
    assert trace is not None and trace.steps == 40 and len(trace.step_norms) == 40
    assert all(b < a for a, b in zip(trace.step_norms, trace.step_norms[1:], strict=False))  # smoothing slows
    assert trace.last_step_norm == trace.step_norms[-1]


def test_unstable_step_blows_up_and_the_trace_shows_it() -> None:
    h2 = G2.spacing**2
    rough = np.random.default_rng(0).standard_normal((24, 24))
    result = evaluate_with_trace(heat(30, 0.4 * h2, ref("u")), G2, {"u": rough})  # above h²/4
    assert result.evolve is not None
    assert result.evolve.step_norms[-1] > 100 * result.evolve.step_norms[0]
    assert not result.evolve.converged(1e-3)


def test_boundary_rules_in_a_heat_run() -> None:
    bump = call("gaussian", center=tup(0.2, 0.5), width=num(0.15))
    for boundary, conserved in (("periodic", True), ("neumann", True), ("dirichlet", False)):
        grid = GridSpec(shape=(24, 24), spacing=1 / 24, boundary=boundary)  # type: ignore[arg-type]
        start, end = evaluate(bump, grid), evaluate(heat(60, 0.2 * grid.spacing**2, bump), grid)
        # periodic conserves Σu; neumann (mirror ghosts) conserves the trapezoid-weighted sum
        w = np.ones(24)
        if boundary == "neumann":
            w[0] = w[-1] = 0.5
        weights = np.outer(w, w)
        before, after = float(np.sum(weights * start)), float(np.sum(weights * end))
        if conserved:
            assert after == pytest.approx(before, rel=1e-12)
        else:
            assert after < 0.99 * before  # heat leaks through the zero-valued ghost nodes


def test_evolve_reaches_a_fixed_point_attractor() -> None:
    halve_and_add = op(
        "evolve", num(60), num(0.0), op("add", op("mul", num(0.5), ref("v")), num(1)), value="v"
    )
    result = evaluate_with_trace(halve_and_add, G2)
    assert result.value == pytest.approx(2.0) and result.layout is None
    assert result.evolve is not None and result.evolve.converged(1e-12)
    field = op(
        "evolve",
        num(60),
        call("zeros"),
        op("add", op("mul", num(0.5), ref("v")), call("const", num(1))),
        value="v",
    )
    traced = evaluate_with_trace(field, G2)
    assert np.allclose(traced.value, 2.0) and traced.evolve is not None and traced.evolve.converged(1e-12)


def test_evolve_scoping_trace_and_edge_cases() -> None:
    body = op("mul", num(2), ref("u"))
    doubled = evaluate(
        op("evolve", num(3), ref("u"), body, value="u"), G2, {"u": 1.5}
    )  # init reads the binding
    assert doubled == 12.0
    nested = op(
        "evolve",
        num(2),
        num(1.0),
        op("add", ref("u"), op("evolve", num(3), num(1.0), body, value="u")),
        value="u",
    )
    assert evaluate(nested, G2) == 1 + 8 + 8
    zero_steps = evaluate_with_trace(op("evolve", num(0), num(5.0), body, value="u"), G2)
    assert (
        zero_steps.value == 5.0 and zero_steps.evolve is not None and zero_steps.evolve.last_step_norm is None
    )
    assert evaluate_with_trace(call("norm", heat(2, 1e-5, call("zeros"))), G2).evolve is None
    with pytest.raises(InterpreterError, match="^evolve: body turns"):
        evaluate(op("evolve", num(2), call("zeros"), op("grad", ref("u")), value="u"), G2)
    with pytest.raises(InterpreterError, match="^evolve:"):
        evaluate(op("evolve", num(1.5), num(0.0), body, value="u"), G2)


def test_constant_subexpressions_inside_evolve_are_evaluated_correctly() -> None:
    # const(2)·random(seed=1) does not depend on u: it is reused across steps, not recomputed.
    forcing = op("mul", call("const", num(2.0)), call("random", seed=num(1)))
    looped = evaluate(op("evolve", num(4), call("zeros"), op("add", ref("u"), forcing), value="u"), G2)
    assert np.allclose(looped, 4 * evaluate(forcing, G2))


def test_predicates_and_goals() -> None:
    value = 2.0 * evaluate(call("gaussian", center=tup(0.5, 0.5), width=num(0.1)), G2)
    bump = call("gaussian", center=tup(0.5, 0.5), width=num(0.1))
    assert evaluate_predicate(op("gt", ref("energy"), call("energy", bump)), G2, value)
    assert evaluate_predicate(op("approx", ref("max"), num(2), num(0.01)), G2, value)
    assert not evaluate_predicate(op("approx", ref("max"), num(2.5), num(0.1)), G2, value)
    assert evaluate_predicate(op("eq", ref("finite"), Node("bool", value=True)), G2, value)
    assert evaluate_predicate(op("lt", ref("max"), num(0)), G2, value, {"max": -1.0})  # bindings win
    truth = {(a, b): (a, b) for a in (True, False) for b in (True, False)}
    for a, b in truth:
        pa, pb = Node("bool", value=a), Node("bool", value=b)
        assert evaluate(op("and", pa, pb), G2) is (a and b)
        assert evaluate(op("or", pa, pb), G2) is (a or b)
        assert evaluate(op("implies", pa, pb), G2) is ((not a) or b)
        assert evaluate(op("iff", pa, pb), G2) is (a == b)
        assert evaluate(op("not", pa), G2) is (not a) and evaluate(op("neg", pa), G2) is (not a)
    for name, expected in (
        ("lt", True),
        ("le", True),
        ("gt", False),
        ("ge", False),
        ("eq", False),
        ("ne", True),
    ):
        assert evaluate(op(name, num(1), num(2)), G2) is expected
    with pytest.raises(InterpreterError, match="^energy: is an observable"):
        evaluate(op("lt", ref("energy"), num(1)), G2)
    with pytest.raises(InterpreterError, match="^and:"):
        evaluate(op("and", num(1), Node("bool", value=True)), G2)


def test_attribute_access_for_policies() -> None:
    env = {"score": {"qscore": 0.4}, "cost.bytes": 10.0, "beam": {"route": "qwave"}}
    assert evaluate(op("lt", Node("attr", value="score.qscore"), num(0.35)), G2, env) is False
    assert evaluate(op("gt", Node("attr", value="cost.bytes"), num(5)), G2, env) is True
    assert evaluate(op("eq", Node("attr", value="beam.route"), Node("str", value="qwave")), G2, env) is True
    with pytest.raises(InterpreterError, match="^attr: no field"):
        evaluate(Node("attr", value="score.missing"), G2, env)


def test_load_reads_only_plain_arrays_inside_the_data_directory(tmp_path: object) -> None:
    root = str(tmp_path)
    data = np.random.default_rng(0).standard_normal((24, 24))
    np.save(os.path.join(root, "u.npy"), data)
    os.makedirs(os.path.join(root, "sub"))
    np.save(os.path.join(root, "sub", "v.npy"), np.ones((24, 24, 2)))
    outside = os.path.join(os.path.dirname(root), "outside.npy")
    np.save(outside, data)
    os.symlink(outside, os.path.join(root, "link.npy"))
    np.save(os.path.join(root, "obj.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(os.path.join(root, "small.npy"), np.ones((3, 3)))

    def load(name: str) -> Node:
        return call("load", Node("str", value=name))

    assert np.array_equal(evaluate(load("u.npy"), G2, data_dir=root), data)
    assert evaluate(load("sub/v.npy"), G2, data_dir=root).shape == (24, 24, 2)
    refused = {
        "../outside.npy": "without '..'",
        outside: "relative",
        "link.npy": "leaves the data directory",
        "obj.npy": "cannot read",
        "small.npy": "does not fit",
        "missing.npy": "no such file",
        "u.txt": ".npy",
    }
    for name, reason in refused.items():
        with pytest.raises(InterpreterError, match=reason):
            evaluate(load(name), G2, data_dir=root)
    with pytest.raises(InterpreterError, match="disabled"):
        evaluate(load("u.npy"), G2)


@settings(max_examples=20, deadline=None)
@given(
    rank=st.integers(1, 3),
    seed=st.integers(0, 1000),
    complex_values=st.booleans(),
    boundary=st.sampled_from(["periodic", "neumann", "dirichlet"]),
)
def test_field_identities_hold_in_every_dimension(
    rank: int, seed: int, complex_values: bool, boundary: str
) -> None:
    grid = GridSpec(shape=(10, 8, 6)[:rank], spacing=0.3, boundary=boundary)  # type: ignore[arg-type]
    a = random_field(grid, seed, complex_values=complex_values)
    b = random_field(grid, seed + 1, complex_values=complex_values)
    env = {"a": a, "b": b}
    assert evaluate(call("norm", op("oplus", ref("a"), ref("b"))), grid, env) == pytest.approx(1.0)
    assert np.all(evaluate(op("ominus", ref("a"), ref("a")), grid, env) == 0)
    assert 0 <= evaluate(call("entropy", ref("a")), grid, env) <= np.log2(grid.points) + 1e-9
    lin = op(
        "sub",
        op("lap", op("add", ref("a"), op("mul", num(3), ref("b")))),
        op("add", op("lap", ref("a")), op("mul", num(3), op("lap", ref("b")))),
    )
    assert np.max(np.abs(evaluate(lin, grid, env))) < 1e-9
    constant = evaluate(op("lap", call("const", num(4.0))), grid)
    assert bool(np.all(constant == 0)) is (boundary != "dirichlet")
    if rank >= 2:
        assert np.max(np.abs(evaluate(op("curl", op("grad", ref("a"))), grid, env))) < 1e-10
    assert np.array_equal(evaluate(op("add", ref("a"), EMPTY), grid, env), a)
