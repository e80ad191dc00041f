"""Field operators for the JAX lowering: ``interp_fieldops`` with xp = jax.numpy.

The same checks and layout bookkeeping as the interpreter's module (∇ adds a
component axis, ∇· removes it, ∅ passes through linear and product operators),
around the same kernels from ``stages.codex.operators``.
"""

from __future__ import annotations

from typing import Any

from stages.codex import operators as ops
from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field, Layout, expand, joint_layout
from stages.qwave import jvalues as jv
from stages.qwave.jvalues import JValue, Scalar


class FieldOps:
    """∇ ∇· ∇× Δ □ d/dt ⧖ ⊗ • × ⊕ ⊖ interfere on traced fields of one grid."""

    def __init__(self, grid: GridSpec) -> None:
        import jax.numpy as jnp

        self.jnp: Any = jnp
        self.grid = grid

    def _require_vector(self, op: str, field: Field) -> None:
        if field.components != self.grid.rank:
            raise InterpreterError(
                op, f"expects a vector field with {self.grid.rank} components, got a {jv.describe(field)}"
                + (f" with {field.components}" if field.components is not None else "")
            )

    def _grid_dt(self, op: str) -> float:
        if self.grid.dt is None:
            raise InterpreterError(op, "the grid has no time step (add 'time T step DT' to the grid)")
        return self.grid.dt

    def differential(self, op: str, value: JValue) -> Field:
        f = jv.require_field(op, value)
        if f.empty:
            return f
        h, bc, xp, rank = self.grid.spacing, self.grid.boundary, self.jnp, self.grid.rank
        if op == "grad":
            if f.components is not None:
                raise InterpreterError("grad", f"expects a scalar field, got a {jv.describe(f)}")
            return Field(ops.grad(f.data, h, bc, xp, time_axis=f.time), Layout(f.time, rank))
        if op == "div":
            self._require_vector("div", f)
            return Field(ops.div(f.data, h, bc, xp, time_axis=f.time), Layout(f.time))
        if op == "curl":
            self._require_vector("curl", f)
            if rank == 1:
                raise InterpreterError("curl", "is defined on 2-D and 3-D grids only")
            return Field(ops.curl(f.data, h, bc, xp, time_axis=f.time), Layout(f.time, 3 if rank == 3 else None))
        has_comps = f.components is not None
        if op == "lap":
            return Field(ops.lap(f.data, h, bc, xp, time_axis=f.time, component_axis=has_comps), f.layout)
        if not f.time:
            raise InterpreterError(op, f"needs a field with a time axis, got a {jv.describe(f)}")
        dt = self._grid_dt(op)
        if op == "ddt":
            return Field(ops.ddt(f.data, dt, xp), f.layout)
        if op == "dalembert":
            return Field(ops.dalembert(f.data, h, dt, bc, xp, component_axis=has_comps), f.layout)
        raise InterpreterError(op, "is not a differential operator")

    def delay(self, value: JValue, steps: int) -> Field:
        f = jv.require_field("delay", value)
        if f.empty:
            return f
        if not f.time:
            raise InterpreterError("delay", f"needs a field with a time axis, got a {jv.describe(f)}")
        return Field(ops.delay(f.data, steps, self.jnp), f.layout)

    @staticmethod
    def _with_time(field: Field, time: bool) -> Any:
        return field.data[None] if time and not field.time else field.data

    def outer(self, a: JValue, b: JValue) -> JValue:
        import numpy as np

        left, right = jv.numeric("outer", a), jv.numeric("outer", b)
        if not isinstance(left, Field) or not isinstance(right, Field):
            return jv.elementwise("outer", np.multiply, [left, right])
        if left.empty or right.empty:
            return left if left.empty else right
        time = left.time or right.time
        da, db = self._with_time(left, time), self._with_time(right, time)
        da = da if left.components is not None else da[..., None]
        db = db if right.components is not None else db[..., None]
        product = ops.outer(da, db, self.jnp)
        if left.components is None and right.components is None:
            return Field(product[..., 0], Layout(time))
        return Field(product, Layout(time, (left.components or 1) * (right.components or 1)))

    def _vector_pair(self, op: str, a: JValue, b: JValue) -> tuple[Field, Field, bool]:
        left, right = jv.require_field(op, a), jv.require_field(op, b)
        for f in (left, right):
            if f.components is None and not f.empty:
                raise InterpreterError(op, f"expects two vector fields, got a {jv.describe(f)}")
        return left, right, left.time or right.time

    def dot(self, a: JValue, b: JValue) -> Field:
        left, right, time = self._vector_pair("dot", a, b)
        if left.empty or right.empty:
            return left if left.empty else right
        return Field(ops.dot(self._with_time(left, time), self._with_time(right, time), self.jnp), Layout(time))

    def cross(self, a: JValue, b: JValue) -> Field:
        left, right, time = self._vector_pair("cross", a, b)
        if left.empty or right.empty:
            return left if left.empty else right
        data = ops.cross(self._with_time(left, time), self._with_time(right, time), self.jnp)
        return Field(data, Layout(time, 3 if left.components == 3 else None))

    def superpose(self, op: str, operands: list[JValue]) -> Field:
        checked = [jv.numeric(op, v) for v in operands]
        if op == "ominus" and len(checked) != 2:
            raise InterpreterError("ominus", f"takes 2 operands, got {len(checked)}")
        fields = [v if isinstance(v, Field) else self._full(v) for v in checked]
        layout = joint_layout(op, fields)
        arrays = [expand(f, layout) for f in fields]
        h, rank = self.grid.spacing, self.grid.rank
        if op == "ominus":
            return Field(ops.ominus(arrays[0], arrays[1], h=h, rank=rank, xp=self.jnp), layout)
        return Field(ops.oplus(*arrays, h=h, rank=rank, xp=self.jnp), layout)

    def _full(self, number: Scalar) -> Field:
        dtype = self.jnp.complex64 if isinstance(number.data, complex) else None
        return Field(self.jnp.full(self.grid.shape, number.data, dtype=dtype))

    def interfere(
        self, args: list[JValue], weights: tuple[float, ...] | None, phases: tuple[float, ...] | None
    ) -> Field:
        if not args:
            raise InterpreterError("interfere", "needs at least one field")
        fields = [jv.require_field("interfere", a) for a in args]
        layout = joint_layout("interfere", fields)
        data = ops.interfere(*(expand(f, layout) for f in fields), xp=self.jnp, weights=weights, phases=phases)
        return Field(data, layout)
