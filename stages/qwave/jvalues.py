"""Values of the JAX lowering and the interpreter's value rules restated for traced arrays.

A field is the interpreter's own ``Field`` (same ``Layout``, same ``expand`` and
``joint_layout``) holding a JAX array. A number is a ``Scalar`` and a truth value
a ``Truth``; their ``data`` is a Python number/bool while it is a compile-time
constant (computed in float64 with NumPy, exactly as the interpreter does) and a
0-d JAX array once it depends on a field. Strings and tuples appear only as
keyword arguments and are always constants.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field, expand, joint_layout, to_number

STATIC_TYPES = (bool, int, float, complex)


@dataclass(frozen=True, slots=True)
class Scalar:
    """A number: Python float/complex (constant) or a 0-d JAX array (traced)."""

    data: Any

    @property
    def static(self) -> bool:
        return isinstance(self.data, STATIC_TYPES)


@dataclass(frozen=True, slots=True)
class Truth:
    """A truth value: Python bool (constant) or a 0-d boolean JAX array (traced)."""

    data: Any

    @property
    def static(self) -> bool:
        return isinstance(self.data, bool)


JValue = Field | Scalar | Truth | str | tuple[Any, ...]


def describe(value: object) -> str:
    if isinstance(value, Field):
        kind = "vector field" if value.components is not None else "scalar field"
        return f"{'time-dependent ' if value.time else ''}{kind}"
    if isinstance(value, Scalar):
        return "number"
    if isinstance(value, Truth):
        return "bool"
    return type(value).__name__


def numeric(op: str, value: JValue) -> Field | Scalar:
    if not isinstance(value, Field | Scalar):
        raise InterpreterError(op, f"expects numbers or fields, got a {describe(value)}")
    return value


def require_field(op: str, value: JValue) -> Field:
    if not isinstance(value, Field):
        raise InterpreterError(op, f"expects a field, got a {describe(value)}")
    return value


def static_number(op: str, value: JValue) -> float | complex:
    """A compile-time constant number (literal or folded); a field-dependent one cannot shape a program."""
    if not isinstance(value, Scalar):
        raise InterpreterError(op, f"expects a number, got a {describe(value)}")
    if not value.static:
        raise InterpreterError(op, "needs a constant here, but the number depends on a field")
    data = value.data
    return complex(data) if isinstance(data, complex) else float(data)


def static_int(op: str, value: JValue) -> int:
    number = static_number(op, value)
    real = number.real if isinstance(number, complex) and number.imag == 0 else number
    if isinstance(real, complex) or not float(real).is_integer():
        raise InterpreterError(op, f"expects an integer, got {number}")
    return int(real)


def static_numbers(op: str, value: JValue) -> tuple[float, ...]:
    """A keyword argument given as a constant real number or a tuple of them."""
    items = value if isinstance(value, tuple) else (value,)
    out = []
    for item in items:
        number = static_number(op, item)
        if isinstance(number, complex):
            raise InterpreterError(op, f"expects a real number, got {number}")
        out.append(number)
    return tuple(out)


def jax_twin(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The jax.numpy function with the same name as a NumPy ufunc/function (np.add → jnp.add)."""
    import jax.numpy as jnp

    return getattr(jnp, fn.__name__)  # type: ignore[no-any-return]


def elementwise(
    op: str, np_fn: Callable[..., Any], operands: Sequence[JValue], jnp_fn: Callable[..., Any] | None = None
) -> Field | Scalar:
    """``interp_values.elementwise`` for traced values: layout-aware broadcasting, numbers stay numbers.

    ``np_fn`` is the NumPy function the interpreter uses; constants are computed with
    it (float64, as the interpreter), traced values with ``jnp_fn`` (default: its
    jax.numpy twin).
    """
    traced_fn = jnp_fn if jnp_fn is not None else jax_twin(np_fn)
    checked = [numeric(op, v) for v in operands]
    fields = [v for v in checked if isinstance(v, Field)]
    if not fields:
        scalars = [v for v in checked if isinstance(v, Scalar)]
        if all(s.static for s in scalars):
            with np.errstate(all="ignore"):
                return Scalar(to_number(np_fn(*(np.asarray(s.data) for s in scalars))))
        return Scalar(traced_fn(*(s.data for s in scalars)))
    layout = joint_layout(op, fields)
    arrays = [expand(v, layout) if isinstance(v, Field) else v.data for v in checked]
    empty = all(f.empty for f in fields) and len(fields) == len(checked)
    return Field(traced_fn(*arrays), layout, empty=empty)


def reduce_elementwise(op: str, np_fn: Callable[..., Any], operands: Sequence[JValue]) -> Field | Scalar:
    """n-ary ``add``/``mul`` (and binary sub/div/pow) folded left, like the interpreter."""
    traced_fn = jax_twin(np_fn)
    return elementwise(
        op,
        lambda *xs: functools.reduce(np_fn, xs),
        operands,
        lambda *xs: functools.reduce(traced_fn, xs),
    )


def real_number(op: str, value: JValue) -> Any:
    """A number operand of an ordering comparison (real part of a traced complex number)."""
    if not isinstance(value, Scalar):
        raise InterpreterError(op, f"expects a number, got a {describe(value)}")
    if value.static:
        number = value.data
        if isinstance(number, complex):
            if number.imag != 0:
                raise InterpreterError(op, f"expects a real number, got {number}")
            return number.real
        return float(number)
    import jax.numpy as jnp

    return jnp.real(value.data)


def truth(op: str, value: JValue) -> Truth:
    if not isinstance(value, Truth):
        raise InterpreterError(op, f"expects a truth value, got a {describe(value)}")
    return value


def array_of(value: JValue) -> Any:
    """The JAX array a cell's value is returned as (0-d for numbers and truth values)."""
    import jax.numpy as jnp

    if isinstance(value, Field):
        return value.data
    if isinstance(value, Scalar | Truth):
        return jnp.asarray(value.data)
    raise InterpreterError("cell", f"a cell cannot evaluate to a {describe(value)}")
