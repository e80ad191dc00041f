"""Fisher–Rao geometry of the probability simplex, computed on the sphere of √p.

The map p ↦ u = √p sends the simplex Δⁿ⁻¹ onto the positive orthant of the unit
sphere, and the Fisher information metric onto (4×) the round metric. Hence:

* distance      d(p, q) = 2·arccos(Σᵢ √(pᵢ qᵢ)) = 2·∠(√p, √q) ∈ [0, π];
* geodesics     great-circle arcs between √p and √q (``slerp``);
* means         the Fréchet mean for the chordal metric is the normalised mean of
                √p (``root_mean``, closed form, exactly incremental); the Fréchet
                mean for the geodesic (Fisher–Rao) metric is the Karcher mean
                (``karcher_mean``, iterative, unique because the orthant is
                geodesically convex and has diameter π/2 < π).

Everything is float64 NumPy; no torch, so the CLI and stages can import it freely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

Vector = NDArray[np.float64]

SIMPLEX_TOLERANCE = 1e-6
"""How far Σp may be from 1 (and how negative a coordinate may be) before a point is refused."""


def as_simplex(point: ArrayLike) -> Vector:
    """Validate a probability vector and return it as float64, renormalised to Σ = 1.

    Raises ``ValueError`` for an empty, non-finite, negative (beyond rounding) or
    non-normalised (|Σp − 1| > 1e-6) input: a corrupted basin must be refused, not
    silently repaired into something else.
    """
    p = np.asarray(point, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("a simplex point needs at least one coordinate")
    if not np.all(np.isfinite(p)):
        raise ValueError("simplex point has non-finite coordinates")
    if p.min() < -SIMPLEX_TOLERANCE:
        raise ValueError(f"simplex point has a negative coordinate ({p.min():.3g})")
    total = float(p.sum())
    if abs(total - 1.0) > SIMPLEX_TOLERANCE:
        raise ValueError(f"simplex point sums to {total:.9g}, not 1")
    p = np.clip(p, 0.0, None)
    return np.asarray(p / p.sum(), dtype=np.float64)


def uniform(dim: int) -> Vector:
    """The centre of the simplex (maximum entropy)."""
    return np.full(dim, 1.0 / dim, dtype=np.float64)


def to_sphere(point: ArrayLike) -> Vector:
    """√p, renormalised to unit length so rounding in Σp cannot leak into angles."""
    u = np.sqrt(as_simplex(point))
    return np.asarray(u / np.linalg.norm(u), dtype=np.float64)


def from_sphere(u: ArrayLike) -> Vector:
    """The simplex point whose root is ``u`` (any non-zero vector; the sign is squared away)."""
    v = np.asarray(u, dtype=np.float64)
    sq = v * v
    total = float(sq.sum())
    if total <= 0.0 or not np.isfinite(total):
        raise ValueError("cannot map a zero or non-finite vector to the simplex")
    return np.asarray(sq / total, dtype=np.float64)


def _angle(u: Vector, v: Vector) -> float:
    """Angle between unit vectors, stable near 0 and π/2 (atan2 form, no arccos cancellation)."""
    return 2.0 * float(np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v)))


def fisher_rao(p: ArrayLike, q: ArrayLike) -> float:
    """Fisher–Rao distance 2·arccos(Σ√(pᵢqᵢ)) ∈ [0, π].

    Evaluated as twice the angle between √p and √q via atan2, which equals the
    arccos form mathematically but is exactly symmetric, exactly 0 for equal
    inputs and keeps full precision for nearby points (arccos(1 − ε) loses half
    the digits).
    """
    u, v = to_sphere(p), to_sphere(q)
    if u.shape != v.shape:
        raise ValueError(f"dimension mismatch: {u.shape[0]} vs {v.shape[0]}")
    return min(np.pi, 2.0 * _angle(u, v))


def bhattacharyya(p: ArrayLike, q: ArrayLike) -> float:
    """Σ√(pᵢqᵢ) ∈ [0, 1] (the cosine of half the Fisher–Rao distance)."""
    return float(np.clip(np.dot(to_sphere(p), to_sphere(q)), 0.0, 1.0))


def _slerp_roots(u: Vector, v: Vector, t: float) -> Vector:
    theta = _angle(u, v)
    if theta < 1e-15:
        return u.copy()
    s = np.sin(theta)
    w = (np.sin((1.0 - t) * theta) / s) * u + (np.sin(t * theta) / s) * v
    return np.asarray(w / np.linalg.norm(w), dtype=np.float64)


def slerp(p: ArrayLike, q: ArrayLike, t: float) -> Vector:
    """The point a fraction ``t`` ∈ [0, 1] of the way along the Fisher–Rao geodesic from p to q.

    d(p, slerp(p, q, t)) = t·d(p, q). t = 0 returns p, t = 1 returns q.
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"interpolation fraction must be in [0, 1], got {t}")
    u, v = to_sphere(p), to_sphere(q)
    if t == 0.0:
        return as_simplex(p)
    if t == 1.0:
        return as_simplex(q)
    return from_sphere(_slerp_roots(u, v, t))


def _weights(n: int, weights: Sequence[float] | ArrayLike | None) -> Vector:
    if n == 0:
        raise ValueError("a mean needs at least one point")
    if weights is None:
        return np.full(n, 1.0 / n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"{n} points but {w.shape[0]} weights")
    if not np.all(np.isfinite(w)) or w.min() < 0.0 or w.sum() <= 0.0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return np.asarray(w / w.sum(), dtype=np.float64)


def root_mean(
    points: Sequence[ArrayLike], weights: Sequence[float] | ArrayLike | None = None
) -> tuple[Vector, float]:
    """Chordal Fréchet mean: (normalised weighted mean of √p)², and the resultant length.

    The resultant ‖Σ wᵢ√pᵢ‖ ∈ (0, 1] measures concentration (1 = all points equal);
    carrying it makes the mean exactly incremental (see ``Basin.absorb``).
    """
    w = _weights(len(points), weights)
    roots = np.stack([to_sphere(p) for p in points])
    m = w @ roots
    resultant = float(np.linalg.norm(m))
    return from_sphere(m), resultant


def frechet_mean(points: Sequence[ArrayLike], weights: Sequence[float] | ArrayLike | None = None) -> Vector:
    """The container-basin mean of basin.md: normalised (weighted) mean of √p, squared."""
    return root_mean(points, weights)[0]


def _log_map(x: Vector, y: Vector) -> Vector:
    """Tangent vector at x pointing to y with length = angle (unit sphere)."""
    theta = _angle(x, y)
    if theta < 1e-15:
        return np.zeros_like(x)
    direction = y - np.cos(theta) * x
    norm = np.linalg.norm(direction)
    if norm == 0.0:
        return np.zeros_like(x)
    return np.asarray(direction * (theta / norm), dtype=np.float64)


def _exp_map(x: Vector, v: Vector) -> Vector:
    length = float(np.linalg.norm(v))
    if length < 1e-300:
        return x
    y = np.cos(length) * x + np.sin(length) * (v / length)
    return np.asarray(y / np.linalg.norm(y), dtype=np.float64)


def karcher_mean(
    points: Sequence[ArrayLike],
    weights: Sequence[float] | ArrayLike | None = None,
    *,
    tol: float = 1e-13,
    max_iter: int = 100,
) -> Vector:
    """Geodesic (Fisher–Rao) Fréchet mean: argmin_x Σ wᵢ d(x, pᵢ)².

    Riemannian gradient descent with unit step (x ← exp_x(Σ wᵢ log_x(√pᵢ))),
    started at the chordal mean. The result depends only on the multiset of
    (point, weight) pairs up to rounding; callers that need bit-identical results
    across machines sort their inputs first. Two points reduce to ``slerp``.
    """
    w = _weights(len(points), weights)
    roots = [to_sphere(p) for p in points]
    if len(roots) == 2:
        return from_sphere(_slerp_roots(roots[0], roots[1], float(w[1])))
    m = w @ np.stack(roots)
    x = np.asarray(m / np.linalg.norm(m), dtype=np.float64)
    for _ in range(max_iter):
        step = np.zeros_like(x)
        for wi, ui in zip(w, roots, strict=True):
            step += wi * _log_map(x, ui)
        x = _exp_map(x, step)
        if float(np.linalg.norm(step)) < tol:
            break
    return from_sphere(x)


def absorb_root_mean(
    point: ArrayLike, resultant: float, count: float, new_point: ArrayLike, weight: float = 1.0
) -> tuple[Vector, float]:
    """Add ``new_point`` (weight ``weight``) to a chordal mean of ``count`` points, exactly.

    m = resultant·√point is the unnormalised mean of roots; the new mean of roots is
    (count·m + weight·√new)/(count + weight). Returns (new point, new resultant), equal
    (to rounding) to ``root_mean`` of all points at once.
    """
    if count < 0 or weight <= 0:
        raise ValueError("count must be ≥ 0 and weight > 0")
    new_root = to_sphere(new_point)
    if count == 0:
        return from_sphere(new_root), 1.0
    m = (count * resultant * to_sphere(point) + weight * new_root) / (count + weight)
    return from_sphere(m), float(np.linalg.norm(m))


def entropy(point: ArrayLike) -> float:
    """Shannon entropy in nats (0·log 0 = 0)."""
    p = as_simplex(point)
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())
