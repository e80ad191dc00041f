"""Field operators on interpreter values: the layout bookkeeping around ``operators``' kernels.

The kernels compute; this module checks operand kinds, lines layouts up, and
records the layout of the result (∇ adds a component axis, ∇· removes it, …).
∅ passes through the linear and product operators as ∅ (its layout is free).

Every function takes the array namespace ``xp`` (default numpy) and passes it to
the kernels, so QWave can drive the same bookkeeping with ``Field``s holding JAX
arrays (``xp=jax.numpy``) and get the same layouts and errors as the oracle.
"""

from __future__ import annotations

import numpy as np

from stages.codex import operators as ops
from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import (
    Field,
    Layout,
    Value,
    describe,
    elementwise,
    expand,
    joint_layout,
    numeric_operand,
    require_field,
    require_int,
)
from stages.codex.operators import Namespace

DIFFERENTIAL_OPS = frozenset({"grad", "div", "curl", "lap", "dalembert", "ddt"})


def _require_vector(op: str, field: Field, grid: GridSpec) -> int:
    if field.components != grid.rank:
        raise InterpreterError(
            op,
            f"expects a vector field with {grid.rank} components, got a {describe(field)}"
            + (f" with {field.components}" if field.components is not None else ""),
        )
    return grid.rank


def _require_time(op: str, field: Field) -> None:
    if not field.time:
        raise InterpreterError(op, f"needs a field with a time axis, got a {describe(field)}")


def _grid_dt(op: str, grid: GridSpec) -> float:
    if grid.dt is None:
        raise InterpreterError(op, "the grid has no time step (add 'time T step DT' to the grid)")
    return grid.dt


def differential(op: str, value: Value, grid: GridSpec, xp: Namespace = np) -> Field:
    """∇ ∇· ∇× Δ □ d/dt on a field value with the grid's spacing and boundary rule."""
    f = require_field(op, value)
    if f.empty:
        return f
    h, bc = grid.spacing, grid.boundary
    if op == "grad":
        if f.components is not None:
            raise InterpreterError("grad", f"expects a scalar field, got a {describe(f)}")
        return Field(ops.grad(f.data, h, bc, xp, time_axis=f.time), Layout(f.time, grid.rank))
    if op == "div":
        _require_vector("div", f, grid)
        return Field(ops.div(f.data, h, bc, xp, time_axis=f.time), Layout(f.time))
    if op == "curl":
        _require_vector("curl", f, grid)
        if grid.rank == 1:
            raise InterpreterError("curl", "is defined on 2-D and 3-D grids only")
        comps = 3 if grid.rank == 3 else None
        return Field(ops.curl(f.data, h, bc, xp, time_axis=f.time), Layout(f.time, comps))
    has_comps = f.components is not None
    if op == "lap":
        return Field(ops.lap(f.data, h, bc, xp, time_axis=f.time, component_axis=has_comps), f.layout)
    _require_time(op, f)
    dt = _grid_dt(op, grid)
    if op == "ddt":
        return Field(ops.ddt(f.data, dt, xp), f.layout)
    if op == "dalembert":
        return Field(ops.dalembert(f.data, h, dt, bc, xp, component_axis=has_comps), f.layout)
    raise InterpreterError(op, "is not a differential operator")


def delay(value: Value, steps: Value, xp: Namespace = np) -> Field:
    f = require_field("delay", value)
    k = require_int("delay", steps)
    if f.empty:
        return f
    _require_time("delay", f)
    return Field(ops.delay(f.data, k, xp), f.layout)


def _with_time(field: Field, time: bool) -> np.ndarray:
    return field.data[None] if time and not field.time else field.data


def outer(a: Value, b: Value, xp: Namespace = np) -> Value:
    """Pointwise tensor product; components multiply (Ca·Cb, row-major); scalar ⊗ scalar is a·b."""
    left, right = numeric_operand("outer", a), numeric_operand("outer", b)
    if not isinstance(left, Field) or not isinstance(right, Field):
        return elementwise("outer", xp.multiply, [left, right])
    if left.empty or right.empty:
        return left if left.empty else right
    time = left.time or right.time
    da, db = _with_time(left, time), _with_time(right, time)
    da = da if left.components is not None else da[..., None]
    db = db if right.components is not None else db[..., None]
    product = ops.outer(da, db, xp)
    if left.components is None and right.components is None:
        return Field(product[..., 0], Layout(time))
    return Field(product, Layout(time, (left.components or 1) * (right.components or 1)))


def _vector_pair(op: str, a: Value, b: Value) -> tuple[Field, Field, bool]:
    left, right = require_field(op, a), require_field(op, b)
    for f in (left, right):
        if f.components is None and not f.empty:
            raise InterpreterError(op, f"expects two vector fields, got a {describe(f)}")
    return left, right, left.time or right.time


def dot(a: Value, b: Value, xp: Namespace = np) -> Field:
    left, right, time = _vector_pair("dot", a, b)
    if left.empty or right.empty:
        return left if left.empty else right
    return Field(ops.dot(_with_time(left, time), _with_time(right, time), xp), Layout(time))


def cross(a: Value, b: Value, xp: Namespace = np) -> Field:
    left, right, time = _vector_pair("cross", a, b)
    if left.empty or right.empty:
        return left if left.empty else right
    data = ops.cross(_with_time(left, time), _with_time(right, time), xp)
    return Field(data, Layout(time, 3 if left.components == 3 else None))


def superpose(op: str, operands: list[Value], grid: GridSpec, xp: Namespace = np) -> Field:
    """⊕ (n-ary sum) or ⊖ (binary difference), normalised once to unit norm; a zero result is ∅-valued."""
    checked = [numeric_operand(op, v) for v in operands]
    if op == "ominus" and len(checked) != 2:
        raise InterpreterError("ominus", f"takes 2 operands, got {len(checked)}")
    fields = [v if isinstance(v, Field) else Field(xp.full(grid.shape, v)) for v in checked]
    layout = joint_layout(op, fields)
    arrays = [expand(f, layout) for f in fields]
    h, rank = grid.spacing, grid.rank
    if op == "ominus":
        data = ops.ominus(arrays[0], arrays[1], h=h, rank=rank, xp=xp)
    else:
        data = ops.oplus(*arrays, h=h, rank=rank, xp=xp)
    return Field(data, layout)
