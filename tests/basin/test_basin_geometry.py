"""Fisher–Rao geometry: metric axioms (property-tested), geodesics, means."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basin import geometry

DIM = 64


@st.composite
def simplex_points(draw: st.DrawFn, dim: int = DIM) -> np.ndarray:
    """Points of the simplex: Dirichlet draws from spiky (α → 0, near a vertex) to flat
    (α large, near the centre), with some coordinates zeroed (faces of the simplex)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    alpha = draw(st.sampled_from([0.01, 0.1, 1.0, 10.0, 1000.0]))
    v = rng.dirichlet(np.full(dim, alpha))
    zeros = draw(st.integers(0, dim - 1))
    v[rng.permutation(dim)[:zeros]] = 0.0
    if v.sum() <= 1e-12:
        v[int(rng.integers(dim))] = 1.0
    return v / v.sum()


def arccos_form(p: np.ndarray, q: np.ndarray) -> float:
    return 2.0 * math.acos(min(1.0, float(np.sum(np.sqrt(p * q)))))


@given(simplex_points(), simplex_points())
def test_distance_is_symmetric_bounded_and_matches_the_arccos_formula(p: np.ndarray, q: np.ndarray) -> None:
    d = geometry.fisher_rao(p, q)
    assert d == geometry.fisher_rao(q, p)
    assert 0.0 <= d <= math.pi
    assert d == pytest.approx(arccos_form(p, q), abs=2e-7)  # arccos loses ~half the digits near 0


@given(simplex_points())
def test_distance_is_exactly_zero_on_equal_points(p: np.ndarray) -> None:
    assert geometry.fisher_rao(p, p.copy()) == 0.0


@given(simplex_points(), simplex_points())
def test_distance_is_positive_on_different_points(p: np.ndarray, q: np.ndarray) -> None:
    if np.max(np.abs(p - q)) > 1e-9:
        assert geometry.fisher_rao(p, q) > 0.0


@given(simplex_points(), simplex_points(), simplex_points())
def test_triangle_inequality(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> None:
    assert geometry.fisher_rao(p, r) <= geometry.fisher_rao(p, q) + geometry.fisher_rao(q, r) + 1e-12


def test_disjoint_supports_are_at_distance_pi() -> None:
    p, q = np.zeros(DIM), np.zeros(DIM)
    p[0], q[1] = 1.0, 1.0
    assert geometry.fisher_rao(p, q) == pytest.approx(math.pi)


@settings(max_examples=80)
@given(simplex_points(), simplex_points(), st.floats(0.0, 1.0))
def test_slerp_walks_the_geodesic(p: np.ndarray, q: np.ndarray, t: float) -> None:
    m = geometry.slerp(p, q, t)
    d = geometry.fisher_rao(p, q)
    assert geometry.fisher_rao(p, m) == pytest.approx(t * d, abs=1e-9)
    assert geometry.fisher_rao(m, q) == pytest.approx((1.0 - t) * d, abs=1e-9)


@settings(max_examples=80)
@given(simplex_points(), st.integers(1, 6))
def test_mean_of_identical_points_is_that_point(p: np.ndarray, count: int) -> None:
    pts = [p.copy() for _ in range(count)]
    np.testing.assert_allclose(geometry.frechet_mean(pts), p, atol=1e-12)
    np.testing.assert_allclose(geometry.karcher_mean(pts), p, atol=1e-12)
    point, resultant = geometry.root_mean(pts)
    assert resultant == pytest.approx(1.0)


def sum_sq(x: np.ndarray, pts: list[np.ndarray], w: np.ndarray) -> float:
    return float(sum(wi * geometry.fisher_rao(x, p) ** 2 for wi, p in zip(w, pts, strict=True)))


@settings(max_examples=40)
@given(st.lists(simplex_points(dim=8), min_size=3, max_size=6), st.data())
def test_karcher_mean_minimises_the_sum_of_squared_fisher_rao_distances(pts: list[np.ndarray], data: st.DataObject) -> None:
    w = np.array(data.draw(st.lists(st.floats(0.1, 5.0), min_size=len(pts), max_size=len(pts))))
    w = w / w.sum()
    k = geometry.karcher_mean(pts, w)
    f = sum_sq(k, pts, w)
    assert f <= sum_sq(geometry.frechet_mean(pts, w), pts, w) + 1e-9
    for p in pts:
        assert f <= sum_sq(p, pts, w) + 1e-9


def test_weighted_mean_of_two_points_is_the_weighted_geodesic_point() -> None:
    rng = np.random.default_rng(3)
    p, q = rng.dirichlet(np.ones(DIM)), rng.dirichlet(np.ones(DIM))
    m = geometry.karcher_mean([p, q], [3.0, 1.0])
    np.testing.assert_allclose(m, geometry.slerp(p, q, 0.25), atol=1e-12)
    assert geometry.fisher_rao(p, m) == pytest.approx(0.25 * geometry.fisher_rao(p, q))


def test_incremental_root_mean_equals_batch_mean() -> None:
    rng = np.random.default_rng(4)
    pts = [rng.dirichlet(np.ones(DIM) * 3) for _ in range(25)]
    point, resultant, n = geometry.uniform(DIM), 0.0, 0
    for p in pts:
        point, resultant = geometry.absorb_root_mean(point, resultant, n, p)
        n += 1
    batch, batch_resultant = geometry.root_mean(pts)
    np.testing.assert_allclose(point, batch, atol=1e-14)
    assert resultant == pytest.approx(batch_resultant, abs=1e-14)


@pytest.mark.parametrize(
    "bad",
    [[0.5, 0.6], [1.2, -0.2], [float("nan"), 1.0], [float("inf"), 0.0], [0.25, 0.25], []],
)
def test_points_off_the_simplex_are_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        geometry.as_simplex(bad)
