"""Compile a normal form to a jitted JAX function of its free inputs, with a compile cache.

``compile_program`` / ``run_program`` / ``run_batch`` are the API. A program (see
``program.py``) is compiled ahead of time (``jax.jit(f).lower(...).compile()``)
for one input signature, grid, precision plan and batch size; the executable is
cached under that key, so a repeated structure never recompiles and every
compilation is counted (``cache_stats()``). A batch of programs with equal keys
runs as one ``jax.vmap`` call; batch sizes are rounded up to a power of two
(padding repeats the first member) so few executables serve any batch.

Unsupported operators, shapes and dtypes raise ``QWaveError``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field, Value
from stages.qwave.cache import CacheStats, CompileCache
from stages.qwave.errors import QWaveError
from stages.qwave.formats import PrecisionPlan
from stages.qwave.program import Program, input_signature, slot_name

MAX_BATCH = 1024


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """What kind of value the compiled function returns (fixed at trace time)."""

    kind: str  # "field" | "number" | "bool"
    time: bool = False
    components: int | None = None


@dataclass(frozen=True, slots=True)
class Executable:
    call: Callable[..., Any]
    info: OutputInfo
    key: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RunResult:
    """One program's value (NumPy array, Python number or bool), its root evolve's last step, timings."""

    value: Any
    last_step_norm: float | None
    info: OutputInfo
    cache_hit: bool
    compile_s: float
    exec_s: float
    batch_size: int
    compile_key: str = field(default="")


_CACHE: CompileCache[Executable] = CompileCache()


def cache_stats() -> CacheStats:
    """Hits, misses and compiles of the process-wide compile cache."""
    return _CACHE.stats()


def clear_cache() -> None:
    _CACHE.clear()


def _input_arrays(values: Sequence[Value]) -> list[np.ndarray]:
    arrays = []
    for value in values:
        if not isinstance(value, Field):
            raise QWaveError(f"input of kind {type(value).__name__} is not a field", code="bad_input")
        data = np.asarray(value.data)
        if data.dtype.kind == "c":
            arrays.append(data.astype(np.complex64))
        elif data.dtype.kind in "biuf":
            arrays.append(data.astype(np.float32))
        else:
            raise QWaveError(f"unsupported input dtype {data.dtype}", code="bad_dtype")
    return arrays


def _grid_key(grid: GridSpec) -> tuple[Any, ...]:
    return (grid.shape, float(grid.spacing), grid.boundary, grid.time_steps, grid.dt)


def _traced_function(program: Program, grid: GridSpec, plan: PrecisionPlan, values: Sequence[Value],
                     info_box: list[OutputInfo]) -> Callable[..., Any]:
    from stages.codex.interp_values import Layout
    from stages.qwave.formats import to_format, to_reference
    from stages.qwave.jvalues import Scalar, Truth, array_of
    from stages.qwave.lowering import Lowering

    layouts = [(v.layout, v.empty) if isinstance(v, Field) else (Layout(), False) for v in values]

    def function(*arrays: Any) -> tuple[Any, Any]:
        import jax.numpy as jnp

        bindings = {
            slot_name(i): Field(to_format(a, plan.input_format), layout, empty)
            for i, (a, (layout, empty)) in enumerate(zip(arrays, layouts, strict=True))
        }
        lowering = Lowering(grid, plan, bindings)
        value = lowering.run(program.structure)
        if isinstance(value, Field):
            info = OutputInfo("field", value.time, value.components)
        elif isinstance(value, Scalar):
            info = OutputInfo("number")
        elif isinstance(value, Truth):
            info = OutputInfo("bool")
        else:
            info = OutputInfo("other")
        info_box.append(info)
        last = lowering.last_step if lowering.last_step is not None else jnp.float32(jnp.nan)
        return to_reference(array_of(value)), jnp.asarray(last, dtype=jnp.float32)

    return function


def compile_program(
    program: Program, grid: GridSpec, plan: PrecisionPlan, values: Sequence[Value], batch: int | None = None
) -> tuple[Executable, bool, float]:
    """(executable, cache hit, compile seconds) for ``program`` with these inputs; ``batch`` = vmapped size."""
    if batch is not None and not 1 <= batch <= MAX_BATCH:
        raise QWaveError(f"batch size {batch} outside [1, {MAX_BATCH}]", code="bad_shape")
    signature = input_signature(list(values))
    key = (program.structure_key, _grid_key(grid), plan.key, signature, batch)

    def build() -> tuple[Executable, float]:
        import jax

        info_box: list[OutputInfo] = []
        function = _traced_function(program, grid, plan, values, info_box)
        if batch is not None:
            function = jax.vmap(function)
        arrays = _input_arrays(values)
        shape_struct: Any = jax.ShapeDtypeStruct
        specs = [shape_struct(((batch,) if batch is not None else ()) + a.shape, a.dtype) for a in arrays]
        started = time.perf_counter()
        try:
            # XLA may otherwise skip the rounding to bf16/fp8 between fused operations
            # ("excess precision"), which would make reduced formats look exact.
            options: dict[str, Any] = {} if plan.is_reference else {"xla_allow_excess_precision": False}
            compiled = jax.jit(function).lower(*specs).compile(compiler_options=options)
        except InterpreterError as exc:
            raise QWaveError(f"cannot compile: {exc}", code="unsupported_op", op=exc.op) from exc
        except (TypeError, ValueError) as exc:
            raise QWaveError(f"cannot compile: {exc}", code="bad_shape") from exc
        seconds = time.perf_counter() - started
        if not info_box or info_box[0].kind == "other":
            raise QWaveError("a cell must evaluate to a field, a number or a truth value", code="bad_shape")
        return Executable(compiled, info_box[0], key), seconds

    return _CACHE.get_or_build(key, build)


def _public(array: np.ndarray, info: OutputInfo) -> Any:
    if info.kind == "field":
        return array
    item = array.item()
    if info.kind == "bool":
        return bool(item)
    return complex(item) if isinstance(item, complex) else float(item)


def _finite_or_none(number: float) -> float | None:
    return number if math.isfinite(number) else None


def run_program(program: Program, grid: GridSpec, plan: PrecisionPlan, values: Sequence[Value]) -> RunResult:
    """Compile (or fetch) and run one program."""
    executable, hit, compile_s = compile_program(program, grid, plan, values)
    arrays = _input_arrays(values)
    started = time.perf_counter()
    out, last = executable.call(*arrays)
    out = np.asarray(out)
    exec_s = time.perf_counter() - started
    last_value = _finite_or_none(float(np.asarray(last)))
    return RunResult(_public(out, executable.info), last_value, executable.info, hit, compile_s, exec_s, 1,
                     program.structure_key)


def padded_size(count: int) -> int:
    """Batch sizes run as the next power of two, so a handful of executables serve every batch."""
    return 1 << max(0, count - 1).bit_length()


def run_batch(
    program: Program, grid: GridSpec, plan: PrecisionPlan, members: Sequence[Sequence[Value]]
) -> list[RunResult]:
    """Run several input sets of one program as one vmapped call (one member: a plain call).

    Every member must have the same input signature (the caller groups by compile key).
    """
    if len(members) == 1:
        return [run_program(program, grid, plan, members[0])]
    if not members:
        return []
    size = padded_size(len(members))
    executable, hit, compile_s = compile_program(program, grid, plan, members[0], batch=size)
    per_member = [_input_arrays(m) for m in members]
    if any(input_signature(list(m)) != input_signature(list(members[0])) for m in members[1:]):
        raise QWaveError("batched programs must share one input signature", code="bad_shape")
    padding = [per_member[0]] * (size - len(members))
    stacked = [np.stack(column) for column in zip(*(per_member + padding), strict=True)]
    started = time.perf_counter()
    out, last = executable.call(*stacked)
    out, last = np.asarray(out), np.asarray(last)
    exec_s = time.perf_counter() - started
    return [
        RunResult(_public(out[i], executable.info), _finite_or_none(float(last[i])), executable.info, hit,
                  compile_s, exec_s, len(members), program.structure_key)
        for i in range(len(members))
    ]
