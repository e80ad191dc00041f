"""Precision profiling: each opcode run in fp32 (reference) and in bf16, fp8 (e4m3) and int8.

For one opcode, a fixed case (inputs: seeded smooth random fields from the
interpreter's ``random_field``, on a 128×128 grid with an 8-step time axis) is
compiled through the normal QWave compiler once per format. ``rel_error`` is
the mean over ``SEEDS`` inputs of ‖y_fmt − y_fp32‖₂ / ‖y_fp32‖₂ (non-finite or
undefined errors are recorded as ``ERROR_CAP``); ``time_s`` is the median of
``REPEATS`` executions, taken round-robin over the formats so that load on the
machine affects every format alike. ``recommend_precision_for_opcode(op)`` is the fastest
format — ranked by bytes moved per element, see ``BYTES_PER_ELEMENT`` — whose mean
relative error is ≤ ``MAX_REL_ERROR``, else fp32. Each opcode is
profiled once per process (cached).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from contracts.payloads import PrecisionProfile, PrecisionResult
from stages.codex.ast import Node, num
from stages.codex.grid import GridSpec
from stages.codex.interp_init import random_field
from stages.codex.interp_values import Field, Layout, Value
from stages.qwave.compiler import compile_program
from stages.qwave.formats import FORMATS, Format, PrecisionPlan
from stages.qwave.program import Program, slot_name

MAX_REL_ERROR = 1e-2
ERROR_CAP = 1e300
SEEDS = (11, 12, 13)
REPEATS = 9
PROFILE_GRID = GridSpec((128, 128), 1.0 / 128, "periodic", 8, 0.01)

InputMaker = Callable[[GridSpec, int], Field]


def _scalar(grid: GridSpec, seed: int) -> Field:
    return Field(random_field(grid, seed))


def _positive(grid: GridSpec, seed: int) -> Field:
    return Field(np.exp(random_field(grid, seed)))


def _vector(grid: GridSpec, seed: int) -> Field:
    return Field(random_field(grid, seed, components=grid.rank), Layout(components=grid.rank))


def _timed(grid: GridSpec, seed: int) -> Field:
    return Field(random_field(grid, seed, time=True), Layout(time=True))


def _complex(grid: GridSpec, seed: int) -> Field:
    return Field(random_field(grid, seed, complex_values=True))


@dataclass(frozen=True, slots=True)
class Case:
    """An opcode applied to input slots ($0, $1, …) made by ``inputs``; ``extra`` are literal operands."""

    inputs: tuple[InputMaker, ...]
    extra: tuple[Node, ...] = ()

    def structure(self, opcode: str, is_call: bool) -> Node:
        args = tuple(Node("ref", value=slot_name(i)) for i in range(len(self.inputs))) + self.extra
        return Node("call", args=args, value=opcode) if is_call else Node(opcode, args=args)


OPERATOR_CASES: dict[str, Case] = {
    "grad": Case((_scalar,)), "div": Case((_vector,)), "curl": Case((_vector,)), "lap": Case((_scalar,)),
    "dalembert": Case((_timed,)), "ddt": Case((_timed,)), "delay": Case((_timed,), (num(2),)),
    "neg": Case((_scalar,)), "add": Case((_scalar, _scalar)), "sub": Case((_scalar, _scalar)),
    "mul": Case((_scalar, _scalar)), "truediv": Case((_scalar, _positive)), "pow": Case((_scalar,), (num(2),)),
    "outer": Case((_vector, _vector)), "dot": Case((_vector, _vector)), "cross": Case((_vector, _vector)),
    "oplus": Case((_scalar, _scalar)), "ominus": Case((_scalar, _scalar)),
}
CALL_CASES: dict[str, Case] = {
    **{name: Case((_scalar,)) for name in ("abs", "exp", "sin", "cos", "norm", "energy", "max", "min", "entropy")},
    # sqrt needs a positive field; a zero-mean field would make the relative error of sum/mean meaningless.
    **{name: Case((_positive,)) for name in ("sqrt", "sum", "mean")},
    **{name: Case((_complex,)) for name in ("conj", "phase", "real", "imag")},
    "interfere": Case((_complex, _complex)),
}
PROFILED_OPCODES = frozenset(OPERATOR_CASES) | frozenset(CALL_CASES)

_PROFILES: dict[str, PrecisionProfile] = {}
_LOCK = threading.Lock()


def _rel_error(value: np.ndarray, reference: np.ndarray) -> float:
    scale = float(np.linalg.norm(np.abs(reference.astype(np.complex128)).ravel()))
    diff = float(np.linalg.norm(np.abs(value.astype(np.complex128) - reference.astype(np.complex128)).ravel()))
    if not np.isfinite(diff) or not np.isfinite(scale):
        return ERROR_CAP
    if scale == 0.0:
        return 0.0 if diff == 0.0 else ERROR_CAP
    return min(diff / scale, ERROR_CAP)


def _run_case(opcode: str, case: Case, is_call: bool) -> list[PrecisionResult]:
    structure = case.structure(opcode, is_call)
    program = Program(structure, (), f"profile:{opcode}")
    inputs: list[list[Value]] = [[make(PROFILE_GRID, seed + k) for k, make in enumerate(case.inputs)]
                                 for seed in SEEDS]
    arrays = [[np.asarray(v.data).astype(np.complex64 if v.data.dtype.kind == "c" else np.float32)
               for v in member if isinstance(v, Field)] for member in inputs]
    executables = {
        fmt: compile_program(program, PROFILE_GRID, PrecisionPlan.uniform(fmt), inputs[0])[0] for fmt in FORMATS
    }
    outputs = {fmt: [np.asarray(ex.call(*member)[0]) for member in arrays] for fmt, ex in executables.items()}
    samples: dict[Format, list[float]] = {fmt: [] for fmt in FORMATS}
    for _ in range(REPEATS):
        for fmt, executable in executables.items():
            started = time.perf_counter()
            np.asarray(executable.call(*arrays[0])[0])
            samples[fmt].append(time.perf_counter() - started)
    times = {fmt: statistics.median(values) for fmt, values in samples.items()}
    results = []
    for fmt in FORMATS:
        errors = [_rel_error(v, r) for v, r in zip(outputs[fmt], outputs["fp32"], strict=True)]
        results.append(PrecisionResult(format=fmt, rel_error=float(np.mean(errors)), time_s=times[fmt]))
    return results


# Bytes per element each format moves: stencil kernels are memory-bound, so on an
# accelerator the narrower format is the faster one. The ranking is fixed (not the
# measured time, which on a shared CPU flips from run to run) so a replay re-run
# recommends exactly what the recorded run did; measured times stay in the event.
BYTES_PER_ELEMENT: dict[str, int] = {"fp32": 4, "bf16": 2, "fp8": 1, "int8": 1}


def recommend_from(results: list[PrecisionResult]) -> Format:
    """Fastest (fewest bytes per element) format with mean relative error ≤ MAX_REL_ERROR, else fp32."""
    eligible = [r for r in results if r.rel_error <= MAX_REL_ERROR]
    if not eligible:
        return "fp32"
    best = min(eligible, key=lambda r: (BYTES_PER_ELEMENT[r.format], r.rel_error, FORMATS.index(r.format)))
    return best.format


def profile_opcode(opcode: str) -> PrecisionProfile:
    """The (cached) profile of one opcode; ValueError for an opcode without a profiling case."""
    with _LOCK:
        cached = _PROFILES.get(opcode)
    if cached is not None:
        return cached
    is_call = opcode in CALL_CASES
    case = CALL_CASES.get(opcode) or OPERATOR_CASES.get(opcode)
    if case is None:
        raise ValueError(f"no precision profile case for opcode {opcode!r}")
    results = _run_case(opcode, case, is_call)
    shape = list(case.inputs[0](PROFILE_GRID, SEEDS[0]).data.shape)
    profile = PrecisionProfile(opcode=opcode, shape=shape, results=results, recommended=recommend_from(results))
    with _LOCK:
        _PROFILES.setdefault(opcode, profile)
        return _PROFILES[opcode]


def recommend_precision_for_opcode(opcode: str) -> Format:
    """The recommended format for ``opcode`` (profiling it on first use); fp32 for opcodes not profiled."""
    if opcode not in PROFILED_OPCODES:
        return "fp32"
    return profile_opcode(opcode).recommended


def opcodes_in(node: Node) -> list[str]:
    """Profiled opcodes of a tree, in first-occurrence order."""
    seen: dict[str, None] = {}
    for sub in node.walk():
        name = str(sub.value) if sub.op == "call" else sub.op
        if name in PROFILED_OPCODES:
            seen.setdefault(name, None)
    return list(seen)


def plan_for(normal_form: Node, precision: str | None) -> PrecisionPlan:
    """The plan of a cell: None → fp32; a format → that format everywhere; ``auto`` → per-opcode advice."""
    from stages.qwave.formats import check_format

    if precision is None:
        return PrecisionPlan.uniform("fp32")
    if precision == "auto":
        return PrecisionPlan("fp32", {op: recommend_precision_for_opcode(op) for op in opcodes_in(normal_form)})
    return PrecisionPlan.uniform(check_format(precision))


def clear_profiles() -> None:
    with _LOCK:
        _PROFILES.clear()
