"""Array kernels of the CodexLang operators, written once against an array namespace ``xp``.

Every kernel takes ``xp`` (``numpy`` or ``jax.numpy``) and uses only functional
operations (``xp.roll``, ``xp.concatenate``, slicing, reductions; never in-place
writes or Python branches on array values), so the reference interpreter
(``xp=numpy``) and QWave (``xp=jax.numpy``, under ``jit``) run the same formulas
and agree by construction.

Layout of a field array: ``[T,] *grid [, C]`` — an optional leading time axis, the
1-3 spatial axes, an optional trailing component axis. Kernels are told which
optional axes are present (``time_axis`` / ``component_axis``); they never guess.

Finite differences are central and second order on the spatial axes, with the
grid's boundary rule supplying the ghost value one step outside the grid:

* ``periodic``  — f[-1] = f[N-1], f[N] = f[0] (``xp.roll``); period N·h.
* ``dirichlet`` — f[-1] = f[N] = 0: the field is zero one step outside the grid
  (zero padding). A constant field therefore has a non-zero gradient and
  Laplacian at the edge nodes.
* ``neumann``   — f[-1] = f[1], f[N] = f[N-2]: mirror reflection about the edge
  node, so the central difference across the boundary node is exactly zero (zero
  normal derivative at x = 0 and x = (N-1)·h) and Δ uses the standard
  second-order ghost-point formula 2(f[1]-f[0])/h² there. An axis of one point
  uses f itself as its ghost (derivative 0).

The time axis (step dt) is never periodic: derivatives along it are central in
the interior and one-sided of the same order at the first and last step.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from stages.codex.interp_errors import InterpreterError

Array = Any  # numpy.ndarray or jax.Array
Namespace = Any  # the numpy or jax.numpy module

BOUNDARY_RULES = ("periodic", "neumann", "dirichlet")


def _slice(ndim: int, axis: int, sl: slice) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[axis] = sl
    return tuple(index)


def neighbours(f: Array, axis: int, boundary: str, xp: Namespace) -> tuple[Array, Array]:
    """(f[i-1], f[i+1]) along ``axis`` for every i, ghost values from the boundary rule."""
    n = f.shape[axis]
    if boundary == "periodic":
        return xp.roll(f, 1, axis=axis), xp.roll(f, -1, axis=axis)
    first, last = f[_slice(f.ndim, axis, slice(0, 1))], f[_slice(f.ndim, axis, slice(n - 1, n))]
    if boundary == "dirichlet":
        lo, hi = xp.zeros_like(first), xp.zeros_like(last)
    elif boundary == "neumann":
        if n == 1:
            lo, hi = first, last
        else:
            lo = f[_slice(f.ndim, axis, slice(1, 2))]
            hi = f[_slice(f.ndim, axis, slice(n - 2, n - 1))]
    else:
        raise InterpreterError(
            "boundary", f"unknown boundary rule {boundary!r}; expected one of {BOUNDARY_RULES}"
        )
    padded = xp.concatenate([lo, f, hi], axis=axis)
    return padded[_slice(f.ndim, axis, slice(0, n))], padded[_slice(f.ndim, axis, slice(2, n + 2))]


def partial(f: Array, axis: int, h: float, boundary: str, xp: Namespace) -> Array:
    """Central first difference (f[i+1] - f[i-1]) / 2h along one spatial array axis."""
    minus, plus = neighbours(f, axis, boundary, xp)
    return (plus - minus) / (2.0 * h)


def second_partial(f: Array, axis: int, h: float, boundary: str, xp: Namespace) -> Array:
    """Central second difference (f[i+1] - 2 f[i] + f[i-1]) / h² along one spatial array axis."""
    minus, plus = neighbours(f, axis, boundary, xp)
    return (plus - 2.0 * f + minus) / (h * h)


def _spatial_axes(f: Array, time_axis: bool, component_axis: bool, op: str) -> list[int]:
    first = 1 if time_axis else 0
    last = f.ndim - (1 if component_axis else 0)
    rank = last - first
    if not 1 <= rank <= 3:
        raise InterpreterError(op, f"expected 1-3 spatial axes, got array of shape {tuple(f.shape)}")
    return list(range(first, last))


def grad(f: Array, h: float, boundary: str, xp: Namespace, time_axis: bool = False) -> Array:
    """∇ of a scalar field ``[T,] *grid`` → vector field ``[T,] *grid, d`` (component i = ∂f/∂x_i)."""
    axes = _spatial_axes(f, time_axis, False, "grad")
    return xp.stack([partial(f, a, h, boundary, xp) for a in axes], axis=-1)


def _vector_axes(v: Array, time_axis: bool, op: str) -> list[int]:
    axes = _spatial_axes(v, time_axis, True, op)
    if v.shape[-1] != len(axes):
        raise InterpreterError(
            op, f"expects {len(axes)} components on a {len(axes)}-D grid, got {v.shape[-1]}"
        )
    return axes


def div(v: Array, h: float, boundary: str, xp: Namespace, time_axis: bool = False) -> Array:
    """∇· of a vector field ``[T,] *grid, d`` → scalar field: Σ_i ∂v_i/∂x_i."""
    axes = _vector_axes(v, time_axis, "div")
    terms = [partial(v[..., i], a, h, boundary, xp) for i, a in enumerate(axes)]
    return builtins.sum(terms[1:], terms[0])


def curl(v: Array, h: float, boundary: str, xp: Namespace, time_axis: bool = False) -> Array:
    """∇× of a vector field. 3-D → vector (∂yvz-∂zvy, ∂zvx-∂xvz, ∂xvy-∂yvx); 2-D → scalar ∂xvy-∂yvx."""
    axes = _vector_axes(v, time_axis, "curl")

    def d(component: int, axis: int) -> Array:
        return partial(v[..., component], axes[axis], h, boundary, xp)

    if len(axes) == 2:
        return d(1, 0) - d(0, 1)
    if len(axes) == 3:
        return xp.stack([d(2, 1) - d(1, 2), d(0, 2) - d(2, 0), d(1, 0) - d(0, 1)], axis=-1)
    raise InterpreterError("curl", "is defined on 2-D and 3-D grids only")


def lap(
    f: Array, h: float, boundary: str, xp: Namespace, time_axis: bool = False, component_axis: bool = False
) -> Array:
    """Δ: sum of central second differences over the spatial axes (componentwise for vector fields)."""
    axes = _spatial_axes(f, time_axis, component_axis, "lap")
    terms = [second_partial(f, a, h, boundary, xp) for a in axes]
    return builtins.sum(terms[1:], terms[0])


def ddt(f: Array, dt: float, xp: Namespace) -> Array:
    """∂/∂t along the leading time axis: central in the interior, 2nd-order one-sided at both ends.

    Needs at least 2 steps; with exactly 2 both entries are the forward difference.
    """
    steps = f.shape[0]
    if steps < 2:
        raise InterpreterError("ddt", f"needs at least 2 time steps, got {steps}")
    if steps == 2:
        forward = (f[1:2] - f[0:1]) / dt
        return xp.concatenate([forward, forward], axis=0)
    interior = (f[2:] - f[:-2]) / (2.0 * dt)
    first = (-3.0 * f[0:1] + 4.0 * f[1:2] - f[2:3]) / (2.0 * dt)
    last = (3.0 * f[-1:] - 4.0 * f[-2:-1] + f[-3:-2]) / (2.0 * dt)
    return xp.concatenate([first, interior, last], axis=0)


def d2dt2(f: Array, dt: float, xp: Namespace) -> Array:
    """∂²/∂t²: central in the interior, 2nd-order one-sided (2,-5,4,-1) at the ends.

    Needs at least 3 steps; with exactly 3 the ends repeat the interior value (first order).
    """
    steps = f.shape[0]
    if steps < 3:
        raise InterpreterError("dalembert", f"needs at least 3 time steps, got {steps}")
    interior = (f[2:] - 2.0 * f[1:-1] + f[:-2]) / (dt * dt)
    if steps == 3:
        return xp.concatenate([interior, interior, interior], axis=0)
    first = (2.0 * f[0:1] - 5.0 * f[1:2] + 4.0 * f[2:3] - f[3:4]) / (dt * dt)
    last = (2.0 * f[-1:] - 5.0 * f[-2:-1] + 4.0 * f[-3:-2] - f[-4:-3]) / (dt * dt)
    return xp.concatenate([first, interior, last], axis=0)


def dalembert(
    f: Array, h: float, dt: float, boundary: str, xp: Namespace, c: float = 1.0, component_axis: bool = False
) -> Array:
    """□f = ∂²f/∂t² − c²Δf on a field with a leading time axis."""
    return d2dt2(f, dt, xp) - (c * c) * lap(f, h, boundary, xp, time_axis=True, component_axis=component_axis)


def delay(f: Array, k: int, xp: Namespace) -> Array:
    """⧖k: result[n] = f[n-k] along the time axis; steps before the start (or past the end) are 0.

    A causal delay line: the signal is taken as zero before t = 0. Negative k advances.
    """
    steps = f.shape[0]
    if k == 0:
        return f
    if abs(k) >= steps:
        return xp.zeros_like(f)
    if k > 0:
        return xp.concatenate([xp.zeros_like(f[:k]), f[: steps - k]], axis=0)
    return xp.concatenate([f[-k:], xp.zeros_like(f[:-k])], axis=0)


def dot(a: Array, b: Array, xp: Namespace) -> Array:
    """a • b = Σ_c a_c b_c over the trailing component axis (bilinear: no complex conjugation)."""
    if a.shape[-1] != b.shape[-1]:
        raise InterpreterError("dot", f"component counts differ: {a.shape[-1]} vs {b.shape[-1]}")
    return xp.sum(a * b, axis=-1)


def cross(a: Array, b: Array, xp: Namespace) -> Array:
    """a × b pointwise: 3 components → vector; 2 components → scalar z-component a_x b_y − a_y b_x."""
    ca, cb = a.shape[-1], b.shape[-1]
    if ca != cb or ca not in (2, 3):
        raise InterpreterError("cross", f"needs two 2- or 3-component vectors, got {ca} and {cb}")
    if ca == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return xp.stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        axis=-1,
    )


def outer(a: Array, b: Array, xp: Namespace) -> Array:
    """a ⊗ b pointwise over the grid: trailing components (Ca,) ⊗ (Cb,) → (Ca·Cb,), row-major.

    Both operands carry a trailing component axis (a scalar field is passed as C = 1);
    component i·Cb + j of the result is a_i b_j. The leading axes must broadcast.
    """
    product = a[..., :, None] * b[..., None, :]
    return xp.reshape(product, product.shape[:-2] + (a.shape[-1] * b.shape[-1],))


def _measure(h: float, rank: int) -> float:
    return float(h) ** rank


def norm(f: Array, h: float, rank: int, xp: Namespace) -> Array:
    """√(Σ|f|² · h^rank) over every entry (all time steps and components); rank = spatial rank."""
    return xp.sqrt(xp.sum(xp.abs(f) ** 2) * _measure(h, rank))


def energy(f: Array, h: float, rank: int, xp: Namespace) -> Array:
    """½ Σ|f|² · h^rank."""
    return 0.5 * xp.sum(xp.abs(f) ** 2) * _measure(h, rank)


def mean(f: Array, xp: Namespace) -> Array:
    """Σf / N over every entry (complex for complex fields)."""
    return xp.mean(f)


def total(f: Array, xp: Namespace) -> Array:
    """Σf over every entry, no measure (CodexLang ``sum``)."""
    return xp.sum(f)


def maximum(f: Array, xp: Namespace) -> Array:
    """Largest entry; of the real part for complex fields (NaN if any entry is NaN)."""
    return xp.max(xp.real(f))


def minimum(f: Array, xp: Namespace) -> Array:
    """Smallest entry; of the real part for complex fields (NaN if any entry is NaN)."""
    return xp.min(xp.real(f))


def entropy(f: Array, xp: Namespace) -> Array:
    """Shannon entropy in bits of p = |f|²/Σ|f|², with 0·log 0 = 0; 0 for the zero field."""
    weight = xp.abs(f) ** 2
    mass = xp.sum(weight)
    # Compare with == 0 (not > 0) so a NaN mass stays NaN instead of reading as "empty".
    p = weight / xp.where(mass == 0, 1.0, mass)
    safe = xp.where(p == 0, 1.0, p)
    return -xp.sum(xp.where(p == 0, 0.0, p * xp.log2(safe)))


def finite(f: Array, xp: Namespace) -> Array:
    """True when no entry is NaN or ±inf."""
    return xp.all(xp.isfinite(f))


def normalise(f: Array, h: float, rank: int, xp: Namespace) -> Array:
    """f / ‖f‖ with the grid measure; the zero field stays zero (never NaN); NaN/inf propagate."""
    size = norm(f, h, rank, xp)
    return xp.where(size == 0, xp.zeros_like(f), f / xp.where(size == 0, 1.0, size))


def oplus(*fields: Array, h: float, rank: int, xp: Namespace) -> Array:
    """a ⊕ b ⊕ …: the sum of all operands, normalised once to unit norm (∅ if the sum is zero)."""
    if not fields:
        raise InterpreterError("oplus", "needs at least one operand")
    return normalise(builtins.sum(fields[1:], fields[0]), h, rank, xp)


def ominus(a: Array, b: Array, h: float, rank: int, xp: Namespace) -> Array:
    """a ⊖ b: (a − b) normalised to unit norm; a ⊖ a is the zero field ∅."""
    return normalise(a - b, h, rank, xp)


def interfere(
    *psis: Array,
    xp: Namespace,
    weights: tuple[float, ...] | None = None,
    phases: tuple[float, ...] | None = None,
) -> Array:
    """|Σ_k w_k e^{iφ_k} ψ_k|² (weights default 1, phases default 0); a real field."""
    if not psis:
        raise InterpreterError("interfere", "needs at least one field")
    w = weights if weights is not None else (1.0,) * len(psis)
    phi = phases if phases is not None else (0.0,) * len(psis)
    if len(w) != len(psis) or len(phi) != len(psis):
        raise InterpreterError("interfere", f"{len(psis)} fields but {len(w)} weights and {len(phi)} phases")
    terms = [wk * xp.exp(1j * pk) * psi for wk, pk, psi in zip(w, phi, psis, strict=True)]
    amplitude = builtins.sum(terms[1:], terms[0])
    return xp.real(amplitude * xp.conj(amplitude))


Reduction = Callable[[Array, float, int, Namespace], Array]

# Every reduction under its CodexLang name with one signature (f, h, rank, xp) → 0-d array.
REDUCTIONS: dict[str, Reduction] = {
    "norm": norm,
    "energy": energy,
    "mean": lambda f, h, rank, xp: mean(f, xp),
    "sum": lambda f, h, rank, xp: total(f, xp),
    "max": lambda f, h, rank, xp: maximum(f, xp),
    "min": lambda f, h, rank, xp: minimum(f, xp),
    "entropy": lambda f, h, rank, xp: entropy(f, xp),
    "finite": lambda f, h, rank, xp: finite(f, xp),
}
