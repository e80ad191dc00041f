"""Array kernels (xp = numpy): analytic cases, convergence order, boundary rules, identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.codex import operators as ops
from stages.codex.interp_errors import InterpreterError

TWO_PI = 2 * np.pi


def periodic_coords(n: int, rank: int) -> tuple[float, list[np.ndarray]]:
    """Coordinates x_i = i·h on a periodic box of length 2π (h = 2π/n)."""
    h = TWO_PI / n
    axes = np.meshgrid(*([np.arange(n) * h] * rank), indexing="ij")
    return h, list(axes)


def lap_sin_error(n: int, k: int) -> float:
    h, (x,) = periodic_coords(n, 1)
    f = np.sin(k * x)
    return float(np.max(np.abs(ops.lap(f, h, "periodic", np) + k * k * f)))


def test_laplacian_of_sine_is_minus_k_squared_with_second_order_error() -> None:
    errors = [lap_sin_error(n, 3) for n in (32, 64, 128)]
    assert errors[0] < 0.3  # leading error k⁴h²/12 ≈ 0.26 at n = 32, k = 3
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 3.7 < coarse / fine < 4.3  # halving h quarters the error: second order


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_laplacian_eigenfunction_in_every_dimension(rank: int) -> None:
    n = 24 if rank == 3 else 64
    h, axes = periodic_coords(n, rank)
    ks = [1, 2, 3][:rank]
    f = np.prod([np.sin(k * a) for k, a in zip(ks, axes, strict=False)], axis=0)
    # Exact discrete eigenvalue of the 3-point stencil: −Σ 4 sin²(k h/2)/h².
    eigen = -sum(4 * np.sin(k * h / 2) ** 2 / h**2 for k in ks)
    assert np.allclose(ops.lap(f, h, "periodic", np), eigen * f, atol=1e-9)
    truncation = sum(k**4 for k in ks) * h**2 / 12  # leading error term of the 3-point stencil
    assert np.allclose(ops.lap(f, h, "periodic", np), -sum(k * k for k in ks) * f, atol=1.1 * truncation)


def test_gradient_is_second_order_and_points_along_axes() -> None:
    def error(n: int) -> float:
        h, (x, y) = periodic_coords(n, 2)
        g = ops.grad(np.sin(x) * np.cos(2 * y), h, "periodic", np)
        assert g.shape == (n, n, 2)
        exact = np.stack([np.cos(x) * np.cos(2 * y), -2 * np.sin(x) * np.sin(2 * y)], axis=-1)
        return float(np.max(np.abs(g - exact)))

    e32, e64 = error(32), error(64)
    assert e64 < 0.02  # leading error k³h²/6 with k ≤ 2
    assert 3.7 < e32 / e64 < 4.3


def test_divergence_and_curl_of_known_fields() -> None:
    h, (x, y, z) = periodic_coords(32, 3)
    zero = np.zeros_like(x)
    field = np.stack([np.sin(x), np.sin(y), np.sin(z)], axis=-1)
    div = ops.div(field, h, "periodic", np)
    assert np.allclose(div, np.cos(x) + np.cos(y) + np.cos(z), atol=3 * h**2 / 6)
    swirl = np.stack([zero, zero, np.sin(x)], axis=-1)  # curl = (0, −cos x, 0)
    curl = ops.curl(swirl, h, "periodic", np)
    assert curl.shape == (32, 32, 32, 3)
    assert np.allclose(curl, np.stack([zero, -np.cos(x), zero], axis=-1), atol=0.01)
    h2, (x2, y2) = periodic_coords(64, 2)
    rotation = np.stack([-np.sin(y2), np.sin(x2)], axis=-1)  # 2-D curl = cos x + cos y, a scalar
    curl2 = ops.curl(rotation, h2, "periodic", np)
    assert curl2.shape == (64, 64)
    assert np.allclose(curl2, np.cos(x2) + np.cos(y2), atol=0.01)


def test_div_grad_matches_laplacian_up_to_discretisation_error() -> None:
    # ∇·∇ uses the wide (2h) stencil, Δ the narrow one: both are O(h²) accurate, so they
    # differ by O(h²). Tolerance stated: max difference ≤ (k_max·h)² · max|Δu|.
    def difference(n: int) -> tuple[float, float]:
        h, (x, y) = periodic_coords(n, 2)
        u = np.sin(x) * np.cos(2 * y)
        lap = ops.lap(u, h, "periodic", np)
        divgrad = ops.div(ops.grad(u, h, "periodic", np), h, "periodic", np)
        return float(np.max(np.abs(divgrad - lap))), (2 * h) ** 2 * float(np.max(np.abs(lap)))

    (d64, tol64), (d128, _) = difference(64), difference(128)
    assert 0 < d64 <= tol64
    assert 3.7 < d64 / d128 < 4.3


@settings(max_examples=25, deadline=None)
@given(
    rank=st.sampled_from([2, 3]),
    boundary=st.sampled_from(ops.BOUNDARY_RULES),
    seed=st.integers(0, 2**16),
)
def test_curl_of_gradient_vanishes_for_every_boundary_rule(rank: int, boundary: str, seed: int) -> None:
    # Per-axis difference operators commute, so ∇×∇u = 0 to rounding even for rough fields.
    u = np.random.default_rng(seed).standard_normal((7, 6, 5)[:rank])
    curl = ops.curl(ops.grad(u, 0.1, boundary, np), 0.1, boundary, np)
    assert np.max(np.abs(curl)) < 1e-11 * max(1.0, float(np.max(np.abs(u)))) / 0.01


@settings(max_examples=25, deadline=None)
@given(boundary=st.sampled_from(ops.BOUNDARY_RULES), seed=st.integers(0, 2**16), a=st.floats(-3, 3))
def test_laplacian_is_linear(boundary: str, seed: int, a: float) -> None:
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((2, 9, 8))
    left = ops.lap(a * u + v, 0.5, boundary, np)
    right = a * ops.lap(u, 0.5, boundary, np) + ops.lap(v, 0.5, boundary, np)
    assert np.allclose(left, right, atol=1e-10)


def test_periodic_laplacian_conserves_the_sum() -> None:
    u = np.random.default_rng(1).standard_normal((16, 12))
    assert abs(float(np.sum(ops.lap(u, 0.1, "periodic", np)))) < 1e-9


def test_dirichlet_means_zero_one_step_outside_the_grid() -> None:
    n, h = 20, 0.1
    ones = np.ones(n)
    g = ops.grad(ones, h, "dirichlet", np)[..., 0]
    assert g[0] == pytest.approx(1 / (2 * h)) and g[-1] == pytest.approx(-1 / (2 * h))
    assert np.all(g[1:-1] == 0)
    # sin(mπ(i+1)/(n+1)) vanishes at the ghost nodes i = −1 and i = n: an exact eigenvector.
    i = np.arange(n)
    mode = np.sin(2 * np.pi * (i + 1) / (n + 1))
    eigen = -(2 - 2 * np.cos(2 * np.pi / (n + 1))) / h**2
    assert np.allclose(ops.lap(mode, h, "dirichlet", np), eigen * mode, atol=1e-9)


def test_neumann_means_zero_normal_derivative_at_the_edge_nodes() -> None:
    rng = np.random.default_rng(3)
    u = rng.standard_normal((10, 9))
    g = ops.grad(u, 0.2, "neumann", np)
    assert np.all(g[0, :, 0] == 0) and np.all(g[-1, :, 0] == 0)
    assert np.all(g[:, 0, 1] == 0) and np.all(g[:, -1, 1] == 0)
    assert np.all(ops.lap(np.full((10, 9), 2.5), 0.2, "neumann", np) == 0)
    # cos(mπ i/(n−1)) is even about both edge nodes: an exact eigenvector of the mirrored stencil.
    n, h = 17, 0.3
    mode = np.cos(3 * np.pi * np.arange(n) / (n - 1))
    eigen = -(2 - 2 * np.cos(3 * np.pi / (n - 1))) / h**2
    assert np.allclose(ops.lap(mode, h, "neumann", np), eigen * mode, atol=1e-9)


def test_unknown_boundary_rule_is_refused() -> None:
    with pytest.raises(InterpreterError, match="boundary"):
        ops.lap(np.zeros(4), 1.0, "absorbing", np)


def test_operators_skip_the_time_axis_and_handle_components() -> None:
    h, (x,) = periodic_coords(32, 1)
    stack = np.stack([np.sin(x), 2 * np.sin(x), 3 * np.sin(x)])  # [T=3, 32]
    g = ops.grad(stack, h, "periodic", np, time_axis=True)
    assert g.shape == (3, 32, 1)
    assert np.allclose(g[2, :, 0], 3 * ops.grad(np.sin(x), h, "periodic", np)[:, 0])
    vec = np.stack([np.sin(x), np.cos(x)], axis=-1)  # [32, C=2]
    lv = ops.lap(vec, h, "periodic", np, component_axis=True)
    assert np.allclose(lv[:, 0], ops.lap(np.sin(x), h, "periodic", np))
    assert np.allclose(lv[:, 1], ops.lap(np.cos(x), h, "periodic", np))


def test_time_derivatives_are_exact_on_low_degree_polynomials() -> None:
    dt = 0.1
    t = np.arange(6) * dt
    f = np.repeat((t**2)[:, None], 4, axis=1)  # [T, x]
    assert np.allclose(ops.ddt(f, dt, np), 2 * t[:, None])  # one-sided ends exact for quadratics
    cubic = np.repeat((t**3)[:, None], 4, axis=1)
    assert np.allclose(ops.d2dt2(cubic, dt, np), 6 * t[:, None])
    two = np.stack([np.zeros(3), np.ones(3)])
    assert np.allclose(ops.ddt(two, 0.5, np), 2.0)
    with pytest.raises(InterpreterError, match="ddt"):
        ops.ddt(np.zeros((1, 4)), dt, np)


def test_dalembertian_of_a_travelling_wave_vanishes_as_resolution_grows() -> None:
    def residual(n: int) -> float:
        h = TWO_PI / n
        dt = h / 2
        t = np.arange(8)[:, None] * dt
        x = np.arange(n)[None, :] * h
        return float(np.max(np.abs(ops.dalembert(np.sin(x - t), h, dt, "periodic", np))))

    r32, r64 = residual(32), residual(64)
    assert r64 < 0.01
    assert 3.5 < r32 / r64 < 4.5


def test_delay_shifts_along_time_with_zeros_before_the_start() -> None:
    f = np.arange(5.0)[:, None] * np.ones((1, 3))
    assert np.array_equal(ops.delay(f, 2, np)[:, 0], [0, 0, 0, 1, 2])
    assert np.array_equal(ops.delay(f, -1, np)[:, 0], [1, 2, 3, 4, 0])
    assert np.array_equal(ops.delay(f, 0, np), f)
    assert np.all(ops.delay(f, 9, np) == 0)


def test_pointwise_products() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 4, 4, 3))
    assert np.allclose(ops.dot(a, b, np), np.einsum("...c,...c->...", a, b))
    c = ops.cross(a, b, np)
    assert np.allclose(c, np.cross(a, b))
    assert np.allclose(ops.dot(a, c, np), 0)  # a ⟂ a × b
    assert np.allclose(ops.cross(a[..., :2], b[..., :2], np), c[..., 2])  # z of the 3-D cross
    o = ops.outer(a, b[..., :2], np)
    assert o.shape == (4, 4, 6)
    assert np.allclose(o.reshape(4, 4, 3, 2), a[..., :, None] * b[..., None, :2])
    with pytest.raises(InterpreterError, match="cross"):
        ops.cross(a, b[..., :2], np)


def test_measures_norm_energy_and_reductions() -> None:
    f = np.full((8, 4), 2.0)
    h = 0.5
    assert float(ops.norm(f, h, 2, np)) == pytest.approx(np.sqrt(32 * 4 * h**2))
    assert float(ops.energy(f, h, 2, np)) == pytest.approx(0.5 * 32 * 4 * h**2)
    z = np.array([1 + 5j, -3 + 0j, 2 - 9j])
    assert float(ops.maximum(z, np)) == 2.0 and float(ops.minimum(z, np)) == -3.0  # of the real part
    assert complex(ops.mean(z, np)) == pytest.approx(0 - 4j / 3)
    assert complex(ops.total(z, np)) == pytest.approx(0 - 4j)
    assert bool(ops.finite(z, np)) and not bool(ops.finite(np.array([1.0, np.inf]), np))
    assert set(ops.REDUCTIONS) == {"norm", "energy", "mean", "sum", "max", "min", "entropy", "finite"}


def test_entropy_in_bits() -> None:
    assert float(ops.entropy(np.ones(16), np)) == pytest.approx(4.0)
    assert float(ops.entropy(np.array([0, 0, 3.0, 0]), np)) == 0.0
    assert float(ops.entropy(np.zeros(5), np)) == 0.0  # 0·log 0 = 0, the zero field has no spread
    assert float(ops.entropy(np.array([1j, 1.0, 0, 0]), np)) == pytest.approx(1.0)
    assert np.isnan(float(ops.entropy(np.array([np.nan, 1.0]), np)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), count=st.integers(1, 4), complex_values=st.booleans())
def test_superposition_is_normalised(seed: int, count: int, complex_values: bool) -> None:
    rng = np.random.default_rng(seed)
    fields = [
        rng.standard_normal((6, 5)) + (1j * rng.standard_normal((6, 5)) if complex_values else 0)
        for _ in range(count)
    ]
    s = ops.oplus(*fields, h=0.3, rank=2, xp=np)
    assert float(ops.norm(s, 0.3, 2, np)) == pytest.approx(1.0)
    assert np.allclose(s * float(ops.norm(sum(fields), 0.3, 2, np)), sum(fields))
    assert float(
        ops.norm(ops.ominus(fields[0], -fields[-1], h=0.3, rank=2, xp=np), 0.3, 2, np)
    ) == pytest.approx(1.0 if np.any(fields[0] + fields[-1]) else 0.0)


def test_a_ominus_a_is_the_zero_field_not_nan() -> None:
    a = np.random.default_rng(2).standard_normal((5, 5)) * (1 + 2j)
    result = ops.ominus(a, a, h=0.1, rank=2, xp=np)
    assert np.all(result == 0) and result.shape == a.shape
    assert np.all(np.isnan(ops.oplus(np.array([np.nan, 1.0]), h=1.0, rank=1, xp=np)))  # NaN is not hidden


def test_interfere_of_two_plane_waves_has_fringe_maximum_four() -> None:
    h, (x, y) = periodic_coords(32, 2)
    a, b = np.exp(4j * x), np.exp(4j * y)
    pattern = ops.interfere(a, b, xp=np)
    assert pattern.dtype.kind == "f"
    assert float(np.max(pattern)) == pytest.approx(4.0)
    assert float(np.min(pattern)) == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(ops.interfere(a, a, xp=np, phases=(0.0, np.pi)), 0)  # destructive
    assert np.allclose(ops.interfere(a, xp=np, weights=(3.0,)), 9)
    with pytest.raises(InterpreterError, match="interfere"):
        ops.interfere(a, b, xp=np, weights=(1.0,))


def test_complex_fields_differentiate_like_their_parts() -> None:
    h, (x,) = periodic_coords(64, 1)
    psi = np.exp(3j * x)
    eigen = -(2 - 2 * np.cos(3 * h)) / h**2
    assert np.allclose(ops.lap(psi, h, "periodic", np), eigen * psi)
    g = ops.grad(psi, h, "periodic", np)[:, 0]
    assert np.allclose(g, 1j * np.sin(3 * h) / h * psi)
