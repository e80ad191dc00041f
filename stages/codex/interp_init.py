"""Initialisers and coordinate fields of the reference interpreter (all on the sheet's grid).

Coordinates are x_i = i·h (x along array axis 0, y along 1, z along 2) and the
box length of an axis with N points is L = N·h (the period on a periodic grid).
Initialisers produce spatial fields (no time axis), except ``load`` which keeps
whatever layout the file's shape has on the grid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field, Layout, Number, to_value

COORDINATE_AXES = {"x": 0, "y": 1, "z": 2}


def axis_coordinates(grid: GridSpec, axis: int) -> np.ndarray:
    """x_i = i·h along ``axis``, broadcast to the full spatial grid shape."""
    n = grid.shape[axis]
    shape = [1] * grid.rank
    shape[axis] = n
    line = (np.arange(n, dtype=float) * grid.spacing).reshape(shape)
    return np.broadcast_to(line, grid.shape).copy()


def coordinate(name: str, grid: GridSpec) -> Field:
    """The coordinate field ``x``/``y``/``z`` (grid shape) or ``t`` (shape [T, *grid], t_n = n·dt)."""
    if name == "t":
        if grid.time_steps is None or grid.dt is None:
            raise InterpreterError("t", "the grid has no time axis (add 'time T step DT' to the grid)")
        steps = (np.arange(grid.time_steps, dtype=float) * grid.dt).reshape((-1,) + (1,) * grid.rank)
        return Field(np.broadcast_to(steps, (grid.time_steps, *grid.shape)).copy(), Layout(time=True))
    axis = COORDINATE_AXES[name]
    if axis >= grid.rank:
        raise InterpreterError(name, f"a {grid.rank}-D grid has no {name} axis")
    return Field(axis_coordinates(grid, axis))


def per_axis(op: str, values: Sequence[float], rank: int, what: str) -> list[float]:
    """A tuple with one entry per spatial axis, or a single number used on every axis."""
    if len(values) == 1:
        return [values[0]] * rank
    if len(values) != rank:
        raise InterpreterError(op, f"{what} has {len(values)} entries on a {rank}-D grid")
    return list(values)


def gaussian(grid: GridSpec, center: Sequence[float], width: Sequence[float]) -> Field:
    """exp(−Σ_i (x_i − c_i·L_i)² / (2 (w_i·L_i)²)): peak 1 at the centre; c and w are fractions of L_i."""
    centres = per_axis("gaussian", center, grid.rank, "center")
    widths = per_axis("gaussian", width, grid.rank, "width")
    if any(w <= 0 for w in widths):
        raise InterpreterError("gaussian", f"width must be positive, got {widths}")
    exponent = np.zeros(grid.shape)
    for axis, (c, w) in enumerate(zip(centres, widths, strict=True)):
        length = grid.shape[axis] * grid.spacing
        exponent = exponent + (axis_coordinates(grid, axis) - c * length) ** 2 / (2.0 * (w * length) ** 2)
    return Field(np.exp(-exponent))


def plane_wave(grid: GridSpec, k: Sequence[float]) -> Field:
    """exp(i Σ_i k_i x_i) in the coordinate units of x_i = i·h (complex, |ψ| = 1)."""
    if len(k) != grid.rank:
        raise InterpreterError("plane_wave", f"k has {len(k)} entries on a {grid.rank}-D grid")
    phase = np.zeros(grid.shape)
    for axis, kk in enumerate(k):
        phase = phase + kk * axis_coordinates(grid, axis)
    return Field(np.exp(1j * phase))


def const(grid: GridSpec, value: Number) -> Field:
    """The constant field ``value`` (complex dtype for a complex value)."""
    return Field(np.full(grid.shape, value, dtype=complex if isinstance(value, complex) else float))


def zeros(grid: GridSpec) -> Field:
    return Field(np.zeros(grid.shape))


def smooth_random(
    shape: tuple[int, ...], rng: np.random.Generator, *, modes: int = 6, max_wavenumber: int = 3
) -> np.ndarray:
    """A real field on ``shape``: a sum of ``modes`` random Fourier modes, scaled to max |f| = 1.

    Mode j is a_j·cos(2π Σ_a m_ja·i_a/N_a + φ_j) with integer wavenumbers |m_ja| ≤
    ``max_wavenumber`` per axis, a_j ~ N(0, 1) and φ_j ~ U[0, 2π): smooth at any
    resolution (periodic on the box), so continuum identities hold up to O(h²).
    """
    index_phase = [
        np.arange(n, dtype=float).reshape([-1 if a == i else 1 for a in range(len(shape))]) / n
        for i, n in enumerate(shape)
    ]
    field = np.zeros(shape)
    for _ in range(modes):
        wavenumbers = rng.integers(-max_wavenumber, max_wavenumber + 1, size=len(shape))
        amplitude, offset = rng.standard_normal(), rng.uniform(0.0, 2.0 * np.pi)
        angle = sum((m * p for m, p in zip(wavenumbers, index_phase, strict=True)), np.zeros(shape))
        field = field + amplitude * np.cos(2.0 * np.pi * angle + offset)
    peak = float(np.max(np.abs(field)))
    return field / peak if peak > 0 else field


def random_field(
    grid: GridSpec,
    seed: int,
    *,
    components: int | None = None,
    time: bool = False,
    complex_values: bool = False,
) -> np.ndarray:
    """A seeded smooth random array of the given layout on ``grid`` (for ``random()`` and rewrite checks).

    Every component (and the imaginary part, when complex) is an independent
    ``smooth_random`` draw; with ``time`` the modes also vary smoothly over the steps.
    """
    if seed < 0:
        raise InterpreterError("random", f"seed must be non-negative, got {seed}")
    if time and grid.time_steps is None:
        raise InterpreterError("random", "a time-dependent field needs a grid with a time axis")
    rng = np.random.default_rng(seed)
    shape = ((grid.time_steps,) if time and grid.time_steps is not None else ()) + tuple(grid.shape)
    parts = []
    for _ in range(components or 1):
        part = smooth_random(shape, rng)
        if complex_values:
            part = part + 1j * smooth_random(shape, rng)
        parts.append(part)
    return np.stack(parts, axis=-1) if components is not None else parts[0]


def load(grid: GridSpec, name: str, data_dir: str | None) -> Field:
    """A ``.npy`` file inside ``data_dir`` (no pickles, no escaping the directory, shape must fit the grid)."""
    if data_dir is None:
        raise InterpreterError("load", "no data directory is configured, so load() is disabled")
    if not name.endswith(".npy"):
        raise InterpreterError("load", f"only .npy files can be loaded, got {name!r}")
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        raise InterpreterError("load", f"path {name!r} must be relative to the data directory, without '..'")
    root = os.path.realpath(data_dir)
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        raise InterpreterError("load", f"path {name!r} leaves the data directory")
    if not os.path.isfile(path):
        raise InterpreterError("load", f"no such file {name!r} in the data directory")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InterpreterError("load", f"cannot read {name!r}: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.ndim == 0:
        raise InterpreterError("load", f"{name!r} does not hold a field array")
    value = to_value(array, grid, name)
    if not isinstance(value, Field):
        raise InterpreterError("load", f"{name!r} does not hold a field array")
    return value
