"""Values the reference interpreter computes with, and how their layouts line up.

A field is a numpy array with layout ``[T,] *grid [, C]``; ``Field`` records which
optional axes are present so that broadcasting is layout-aware (a scalar field
times a vector field scales every component; a field without a time axis is the
same at every step), never numpy's trailing-axis guess. Numbers are Python
``float``/``complex``; predicates give ``bool``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError

Number = float | complex


@dataclass(frozen=True, slots=True)
class Layout:
    """Which optional axes a field array has: a leading time axis and/or a trailing component axis."""

    time: bool = False
    components: int | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """A field array plus its layout.

    ``empty`` marks ∅: zeros of the spatial grid shape that broadcast to any layout
    and make the structural operators (•, ×, ⊗, ∇…) return ∅ again.
    """

    data: np.ndarray
    layout: Layout = Layout()
    empty: bool = False

    @property
    def time(self) -> bool:
        return self.layout.time

    @property
    def components(self) -> int | None:
        return self.layout.components


@dataclass(frozen=True, slots=True)
class Samples:
    """Born-rule draws: flat (C-order) indices into the sampled field's array."""

    indices: np.ndarray


Value = Field | Number | bool | str | tuple[Any, ...] | Samples


def describe(value: object) -> str:
    """Short human name of a value's kind, for error messages."""
    if isinstance(value, Field):
        kind = "vector field" if value.components is not None else "scalar field"
        return f"{'time-dependent ' if value.time else ''}{kind}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float | int | complex):
        return "number"
    if isinstance(value, Samples):
        return "sample list"
    return type(value).__name__


def infer_layout(shape: tuple[int, ...], grid: GridSpec) -> Layout:
    """Layout of an array shape on ``grid``; the first match of grid, [T]+grid, grid+[C], [T]+grid+[C].

    The order resolves the rare ambiguity (a time-scalar shape that also reads as a
    vector field) in favour of the time axis; pass a ``Field`` to say otherwise.
    """
    g, steps = tuple(grid.shape), grid.time_steps
    if shape == g:
        return Layout()
    if steps is not None and shape == (steps, *g):
        return Layout(time=True)
    if len(shape) == len(g) + 1 and shape[:-1] == g:
        return Layout(components=shape[-1])
    if steps is not None and len(shape) == len(g) + 2 and shape[:-1] == (steps, *g):
        return Layout(time=True, components=shape[-1])
    raise InterpreterError("binding", f"array of shape {shape} does not fit grid {g} (time steps {steps})")


def to_value(obj: object, grid: GridSpec, name: str) -> Value:
    """Turn a binding (number, bool, numpy array, Field) into an interpreter value."""
    if isinstance(obj, Field | bool | str | Samples):
        return obj
    if isinstance(obj, int | float | np.integer | np.floating):
        return float(obj)
    if isinstance(obj, complex | np.complexfloating):
        return complex(obj)
    if isinstance(obj, np.ndarray):
        if obj.ndim == 0:
            return to_value(obj.item(), grid, name)
        if obj.dtype.kind not in "biufc":
            raise InterpreterError("binding", f"{name!r} has non-numeric dtype {obj.dtype}")
        data = obj.astype(float) if obj.dtype.kind in "biu" else obj
        return Field(data, infer_layout(tuple(obj.shape), grid))
    raise InterpreterError("binding", f"{name!r} is a {type(obj).__name__}, not a number, bool or array")


def to_number(value: object) -> Number:
    """A numpy scalar or 0-d array as a Python float (real) or complex."""
    item = np.asarray(value).item()
    if isinstance(item, complex):
        return item
    return float(item)


def expand(field: Field, layout: Layout) -> np.ndarray:
    """``field.data`` with broadcastable singleton axes added so it lines up with ``layout``."""
    data = field.data
    if layout.time and not field.time:
        data = data[None]
    if layout.components is not None and field.components is None:
        data = data[..., None]
    return data


def joint_layout(op: str, fields: list[Field]) -> Layout:
    """The layout several operands broadcast to; differing component counts are an error."""
    counts = {f.components for f in fields if f.components is not None and not f.empty}
    if len(counts) > 1:
        raise InterpreterError(op, f"component counts differ: {sorted(counts)}")
    components = next(iter(counts), None)
    return Layout(time=any(f.time for f in fields), components=components)


def numeric_operand(op: str, value: Value) -> Field | Number:
    if isinstance(value, bool) or not isinstance(value, Field | float | int | complex):
        raise InterpreterError(op, f"expects numbers or fields, got a {describe(value)}")
    return value


def elementwise(op: str, fn: Callable[..., Any], operands: list[Value]) -> Field | Number:
    """Apply ``fn`` to numbers and/or fields, broadcasting by layout; numbers stay numbers.

    The result is an ordinary field even when an operand is ∅ (cos ∅ is not zero).
    """
    checked = [numeric_operand(op, v) for v in operands]
    fields = [v for v in checked if isinstance(v, Field)]
    if not fields:
        return to_number(fn(*(np.asarray(v) for v in checked)))
    layout = joint_layout(op, fields)
    arrays = [expand(v, layout) if isinstance(v, Field) else v for v in checked]
    return Field(fn(*arrays), layout)


def require_field(op: str, value: Value) -> Field:
    if not isinstance(value, Field):
        raise InterpreterError(op, f"expects a field, got a {describe(value)}")
    return value


def require_number(op: str, value: Value) -> Number:
    if isinstance(value, bool) or not isinstance(value, float | int | complex):
        raise InterpreterError(op, f"expects a number, got a {describe(value)}")
    return value


def require_real(op: str, value: Value) -> float:
    """A real number; a complex one is accepted only with a zero imaginary part."""
    number = require_number(op, value)
    if isinstance(number, complex):
        if number.imag != 0:
            raise InterpreterError(op, f"expects a real number, got {number}")
        return number.real
    return float(number)


def require_int(op: str, value: Value) -> int:
    number = require_real(op, value)
    if not number.is_integer():
        raise InterpreterError(op, f"expects an integer, got {number}")
    return int(number)


def output(value: Value) -> object:
    """The public form of a value: numpy array, float/complex, bool, str, tuple, or sample indices."""
    if isinstance(value, Field):
        return value.data
    if isinstance(value, Samples):
        return value.indices
    return value
