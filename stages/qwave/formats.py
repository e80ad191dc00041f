"""Number formats QWave can run a cell in, and how a tensor is stored in each.

``fp32`` is the reference. ``bf16`` and ``fp8`` (OCP e4m3, ``ml_dtypes.float8_e4m3fn``)
are real array dtypes: a tensor cast to them stays in that dtype, so the following
operators run natively in it. ``int8`` is symmetric per-tensor quantisation:
scale s = max|x| / 127, stored value round(x / s) clipped to [-127, 127], read
back as q·s (the arithmetic between two quantised tensors runs in fp32, as in
int8 inference with fp32 accumulation).

Complex tensors have no bf16/fp8/int8 dtype: their real and imaginary parts are
stored in the format separately and the value is recombined in complex64.
"""

from __future__ import annotations

from typing import Any, Literal

Format = Literal["fp32", "bf16", "fp8", "int8"]
FORMATS: tuple[Format, ...] = ("fp32", "bf16", "fp8", "int8")
PRECISION_CHOICES = (*FORMATS, "auto")
INT8_LEVELS = 127.0


def check_format(name: object) -> Format:
    from stages.qwave.errors import QWaveError

    for fmt in FORMATS:
        if name == fmt:
            return fmt
    raise QWaveError(f"unknown precision {name!r}; expected one of {', '.join(FORMATS)}", code="bad_precision")


def storage_dtype(fmt: Format) -> Any:
    """The array dtype a real tensor is stored in (int8 stores float32 snapped to the int8 grid)."""
    import jax.numpy as jnp
    import ml_dtypes

    return {
        "fp32": jnp.float32,
        "bf16": jnp.bfloat16,
        "fp8": ml_dtypes.float8_e4m3fn,
        "int8": jnp.float32,
    }[fmt]


def to_format(value: Any, fmt: Format) -> Any:
    """Store a traced JAX array in ``fmt`` (identity for fp32 and for non-float values)."""
    import jax.numpy as jnp

    if fmt == "fp32" or not hasattr(value, "dtype"):
        return value
    if jnp.issubdtype(value.dtype, jnp.complexfloating):
        real = _real_to_format(jnp.real(value), fmt).astype(jnp.float32)
        imag = _real_to_format(jnp.imag(value), fmt).astype(jnp.float32)
        return real + 1j * imag
    if not jnp.issubdtype(value.dtype, jnp.floating):
        return value
    return _real_to_format(value, fmt)


def _real_to_format(value: Any, fmt: Format) -> Any:
    import jax.numpy as jnp

    if fmt == "int8":
        return int8_roundtrip(value.astype(jnp.float32))
    return value.astype(storage_dtype(fmt))


def int8_roundtrip(value: Any) -> Any:
    """Symmetric per-tensor int8 quantisation and dequantisation of a real array."""
    import jax.numpy as jnp

    peak = jnp.max(jnp.abs(value))
    scale = jnp.where(peak > 0, peak / INT8_LEVELS, 1.0)
    quantised = jnp.clip(jnp.round(value / scale), -INT8_LEVELS, INT8_LEVELS).astype(jnp.int8)
    return quantised.astype(jnp.float32) * scale


def to_reference(value: Any) -> Any:
    """Read a result back as float32 / complex64 (what collapse and comparisons see)."""
    import jax.numpy as jnp

    if hasattr(value, "dtype") and jnp.issubdtype(value.dtype, jnp.floating):
        return value.astype(jnp.float32)
    return value


class PrecisionPlan:
    """Which format each opcode's result is stored in: one format for all, or one per opcode (auto).

    Inputs (initialisers, coordinates) are stored in ``input_format``. ``key`` is
    hashable and part of the compile-cache key.
    """

    __slots__ = ("_default", "_per_op", "input_format")

    def __init__(self, default: Format = "fp32", per_op: dict[str, Format] | None = None) -> None:
        self._default: Format = default
        self._per_op: dict[str, Format] = dict(per_op or {})
        self.input_format: Format = default if not per_op else "fp32"

    @classmethod
    def uniform(cls, fmt: Format) -> PrecisionPlan:
        return cls(fmt)

    @property
    def is_reference(self) -> bool:
        """True when every tensor stays in fp32."""
        return self._default == "fp32" and all(fmt == "fp32" for fmt in self._per_op.values())

    def for_op(self, opcode: str) -> Format:
        return self._per_op.get(opcode, self._default)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self._default, tuple(sorted(self._per_op.items()))

    def describe(self) -> str | dict[str, str]:
        """JSON form for events: the format name, or {opcode: format} for a per-opcode plan."""
        if not self._per_op:
            return self._default
        return dict(sorted(self._per_op.items()))
