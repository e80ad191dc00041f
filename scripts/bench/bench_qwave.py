"""P4–P6: QWave (JAX, warm compile cache) vs the NumPy reference interpreter, vmap vs loop, recompiles.

P4 heavy suite — each figure the median of ``--runs`` runs, measured side by side:
  * ``heat``:   ∇·(k∇u) + Δu on 512² (k a smooth positive field, u a Gaussian)
  * ``evolve``: ⟲200 u ← u + dt·Δu on 256² (dt = 0.2·h², stable)
  * ``outer``:  ∇u ⊗ ∇u on 64² (CodexLang's pointwise tensor product)
  ``compute``: inputs evaluated once, then QWave's executable (with input transfer
  and result fetch) vs the interpreter with the same inputs bound;
  ``end_to_end``: from the normal form (initialisers included on both sides).
P5: 64 same-structure cells (u + dt·∇·(k∇u), random(seed) inputs, ``--cell-size``²),
  one vmapped call vs 64 calls — executables alone (also at 16², 32², 128²: the gain
  is the per-call overhead saved, so it shrinks as cells grow), and through
  ``QWaveStage`` (PHASE10 batch vs one call per beam; input initialisers, collapse
  and events included on both sides).
P6: the same sheet twice through the stage: compiles during the second run, counted by
  the compile cache and by JAX's own backend-compile events.
Checks before timing: QWave's values equal the NumPy reference's (relative 1e-3, fp32 vs
fp64), vmapped values equal one-by-one values, the second P6 run gives the first's values.
Prints one JSON object on the last line.

    .venv/bin/python scripts/bench/bench_qwave.py [--runs 5] [--cell-size 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from benchlib import check, emit, machine, spread  # noqa: E402

from contracts.payloads import BeamEvent  # noqa: E402
from contracts.registry import make_event  # noqa: E402
from stages.base import StageContext  # noqa: E402
from stages.codex.ast import Node, call, num, ref  # noqa: E402
from stages.codex.grid import GridSpec  # noqa: E402
from stages.codex.interpreter import evaluate  # noqa: E402
from stages.qwave.compiler import cache_stats, compile_program, run_batch, run_program  # noqa: E402
from stages.qwave.formats import PrecisionPlan  # noqa: E402
from stages.qwave.program import evaluate_inputs, slot_name, split_inputs  # noqa: E402
from stages.qwave.stage import QWaveStage  # noqa: E402

FP32 = PrecisionPlan.uniform("fp32")


def times(fn: Callable[[], Any], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def median_time(fn: Callable[[], Any], runs: int) -> float:
    return statistics.median(times(fn, runs))


def check_close(ours: Any, reference: Any, what: str, tolerance: float = 1e-3) -> float:
    """QWave's value (fp32) against the reference's (fp64): same shape, max error ≤ tolerance × scale."""
    a, b = np.asarray(ours, dtype=np.complex128), np.asarray(reference, dtype=np.complex128)
    check(a.shape == b.shape, f"{what}: shape {a.shape} differs from the reference's {b.shape}")
    check(bool(np.all(np.isfinite(a))), f"{what}: non-finite values")
    error = float(np.max(np.abs(a - b))) / max(1.0, float(np.max(np.abs(b))))
    check(error <= tolerance, f"{what}: relative error {error:.2e} above {tolerance:.0e}")
    return error


def observables_of(outputs: list[list[Any]]) -> list[dict[str, Any]]:
    """The observables every output BeamEvent reports, per input beam, in order."""
    return [{e.cell_id: e.payload.get("result", {}).get("observables") for e in events if e.type == "BeamEvent"}
            for events in outputs]


def check_same_observables(a: list[list[Any]], b: list[list[Any]], what: str) -> None:
    left, right = observables_of(a), observables_of(b)
    check(len(left) == len(right) and all(left), f"{what}: {len(left)} vs {len(right)} outputs")
    for x, y in zip(left, right, strict=True):
        check(x.keys() == y.keys(), f"{what}: different cells {sorted(x)} vs {sorted(y)}")
        for cell in x:
            for name, value in (x[cell] or {}).items():
                other = (y[cell] or {}).get(name)
                if isinstance(value, float) and isinstance(other, float):
                    check(abs(value - other) <= 1e-4 * max(1.0, abs(value)), f"{what}: {cell}.{name} {value} vs {other}")
                else:
                    check(value == other, f"{what}: {cell}.{name} {value!r} vs {other!r}")


def heat_case() -> tuple[Node, GridSpec]:
    u = call("gaussian", center=Node("tuple", (num(0.4), num(0.6))), width=num(0.15))
    k = Node("add", (num(1.5), call("sin", Node("mul", (num(6.283185307179586), ref("x"))))))
    node = Node("add", (Node("div", (Node("mul", (k, Node("grad", (u,)))),)), Node("lap", (u,))))
    return node, GridSpec((512, 512), 1.0 / 512, "periodic")


def evolve_case() -> tuple[Node, GridSpec]:
    h = 1.0 / 256
    u = ref("u")
    body = Node("add", (u, Node("mul", (num(0.2 * h * h), Node("lap", (u,))))))
    return Node("evolve", (num(200), call("gaussian"), body), value="u"), GridSpec((256, 256), h, "periodic")


def outer_case() -> tuple[Node, GridSpec]:
    u = call("random", seed=num(5))
    return Node("outer", (Node("grad", (u,)), Node("grad", (u,)))), GridSpec((64, 64), 1.0 / 64, "periodic")


def p4(runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (node, grid) in (("heat", heat_case()), ("evolve", evolve_case()), ("outer", outer_case())):
        program = split_inputs(node)
        values = evaluate_inputs(program, grid, seed=0)
        bindings = {slot_name(i): v for i, v in enumerate(values)}
        _, _, compile_s = compile_program(program, grid, FP32, values)
        warm = run_program(program, grid, FP32, values)
        error = check_close(warm.value, evaluate(program.structure, grid, bindings), f"P4 {name}")
        qwave = times(lambda p=program, g=grid, v=values: run_program(p, g, FP32, v), runs)
        numpy_ref = times(lambda n=program.structure, g=grid, b=bindings: evaluate(n, g, b), runs)

        def end_to_end(n: Node = node, g: GridSpec = grid) -> Any:
            prog = split_inputs(n)
            return run_program(prog, g, FP32, evaluate_inputs(prog, g, seed=0)).value

        check_close(end_to_end(), evaluate(node, grid), f"P4 {name} end to end")
        qwave_e2e = times(end_to_end, runs)
        numpy_e2e = times(lambda n=node, g=grid: evaluate(n, g), runs)
        out[name] = {
            "grid": list(grid.shape), "compile_s": round(compile_s, 3), "max_relative_error": error,
            "compute": {"qwave_ms": spread(t * 1e3 for t in qwave), "numpy_ms": spread(t * 1e3 for t in numpy_ref),
                        "speedup": spread(n / q for n, q in zip(numpy_ref, qwave, strict=True))},
            "end_to_end": {"qwave_ms": spread(t * 1e3 for t in qwave_e2e),
                           "numpy_ms": spread(t * 1e3 for t in numpy_e2e),
                           "speedup": spread(n / q for n, q in zip(numpy_e2e, qwave_e2e, strict=True))},
        }
    out["median_compute_speedup"] = statistics.median(out[n]["compute"]["speedup"]["median"]
                                                      for n in ("heat", "evolve", "outer"))
    return out


def small_cell(size: int) -> tuple[Node, GridSpec]:
    u = call("random")
    k = call("const", num(1.0))
    flux = Node("mul", (k, Node("grad", (u,))))
    node = Node("add", (u, Node("mul", (num(1e-5), Node("div", (flux,))))))
    return node, GridSpec((size, size), 1.0 / size, "periodic")


def beams(node: Node, grid: GridSpec, count: int, run_id: str) -> list[Any]:
    now = StageContext(flags={}, flags_digest="", clock=lambda: _NOW).now()
    out = []
    for i in range(count):
        result = {"normal_form": node.to_json(), "normal_key": "bench", "grid": grid.to_json(), "precision": None,
                  "goal": None, "main_input": None, "seed": i, "route": "qwave"}
        beam = BeamEvent(beam_id=f"b{i}", cell_id=f"c{i}", sheet_run_id=run_id, container_id="bench",
                         eid=f"eid::{run_id}::c{i}", stage="rewrite", token="∇", result=result,
                         timestamp=now.isoformat())
        out.append(make_event(beam, stage_id="photon", index=i, sheet_run_id=run_id, container_id="bench",
                              eid=f"eid::{run_id}::c{i}", cell_id=f"c{i}", occurred_at=now))
    return out


def context(phase10: bool) -> StageContext:
    return StageContext(flags={"PHASE10_ENABLED": phase10}, flags_digest="bench", clock=lambda: _NOW)


def executables(runs: int, size: int, count: int) -> dict[str, Any]:
    """One vmapped call vs ``count`` calls of the single-cell executable (inputs prepared once)."""
    node, grid = small_cell(size)
    program = split_inputs(node)
    members = [evaluate_inputs(program, grid, seed=s) for s in range(count)]
    batch = run_batch(program, grid, FP32, members)
    single = [run_program(program, grid, FP32, m) for m in members]
    check(len(batch) == count, f"P5 {size}²: {len(batch)} batch results for {count} cells")
    for i, (b, one) in enumerate(zip(batch, single, strict=True)):
        check_close(b.value, one.value, f"P5 {size}² cell {i}: vmapped vs one by one", tolerance=1e-5)
    vmapped = times(lambda: run_batch(program, grid, FP32, members), runs)
    looped = times(lambda: [run_program(program, grid, FP32, m) for m in members], runs)
    return {"grid": [size, size], "vmapped_ms": spread(t * 1e3 for t in vmapped),
            "loop_ms": spread(t * 1e3 for t in looped),
            "speedup": spread(loop / v for loop, v in zip(looped, vmapped, strict=True))}


def p5(runs: int, size: int, other_sizes: list[int], count: int = 64) -> dict[str, Any]:
    node, grid = small_cell(size)
    stage = QWaveStage()
    batch = beams(node, grid, count, "p5")
    vmapped_out = stage.process(batch, context(True))
    looped_out = [stage.process([b], context(False))[0] for b in batch]
    check_same_observables(vmapped_out, looped_out, "P5 stage: PHASE10 batch vs one call per beam")
    stage_vmapped = times(lambda: stage.process(batch, context(True)), runs)
    stage_looped = times(lambda: [stage.process([b], context(False)) for b in batch], runs)
    return {
        "cells": count, "grid": [size, size],
        "executables": executables(runs, size, count),
        "executables_by_size": [executables(runs, s, count) for s in other_sizes if s != size],
        "stage": {"vmapped_ms": spread(t * 1e3 for t in stage_vmapped),
                  "loop_ms": spread(t * 1e3 for t in stage_looped),
                  "speedup": spread(loop / v for loop, v in zip(stage_looped, stage_vmapped, strict=True))},
    }


def p6() -> dict[str, Any]:
    import jax.monitoring

    backend: list[str] = []

    def listener(name: str, _d: float, **_: Any) -> None:
        if name == "/jax/core/compile/backend_compile_duration":
            backend.append(name)

    stage = QWaveStage()
    sheet = [(n, g) for n, g in (heat_case(), outer_case(), small_cell(32))]

    def run_sheet(run_id: str) -> list[list[Any]]:
        outputs: list[list[Any]] = []
        for i, (node, grid) in enumerate(sheet):
            outputs += stage.process(beams(node, grid, 4, f"{run_id}-{i}"), context(True))
        return outputs

    first_before = cache_stats()
    first = run_sheet("first")
    between = cache_stats()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        second = run_sheet("second")
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    after = cache_stats()
    # The counters must be able to see a compile (else "0 recompiles" is vacuous), and the
    # second run must give the first run's values.
    check(between.compiles - first_before.compiles > 0, "P6: the first run counted no compile")
    check_same_observables(first, second, "P6: second run vs first run")
    return {
        "first_run_compiles": between.compiles - first_before.compiles,
        "second_run_compiles": after.compiles - between.compiles,
        "second_run_backend_compiles": len(backend),
        "second_run_hits": after.hits - between.hits,
        "process_hit_rate": after.hit_rate,
    }


_NOW = __import__("datetime").datetime(2025, 1, 1, tzinfo=__import__("datetime").UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cell-size", type=int, default=64)
    parser.add_argument("--other-sizes", default="16,32,128",
                        help="further cell sizes of the P5 executables comparison (comma-separated, may be empty)")
    args = parser.parse_args()
    import jax

    emit({
        "bench": "qwave", "checked": True,
        "machine": {**machine(), "jax": jax.__version__, "device": str(jax.devices()[0])},
        "runs": args.runs,
        "P4": p4(args.runs),
        "P5": p5(args.runs, args.cell_size, [int(v) for v in args.other_sizes.split(",") if v]),
        "P6": p6(),
    })


if __name__ == "__main__":
    main()
