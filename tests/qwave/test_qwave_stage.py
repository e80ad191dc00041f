"""The QWave stage end to end: routing, compile cache, vector beams, sampling, precision, errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from qwave_helpers import context, relative_gap, rewrite_beam, without_runtime

from contracts.envelope import Envelope
from contracts.registry import decode, encode
from stages.codex.ast import Node, call, num, ref
from stages.codex.goals import operand_key
from stages.codex.grid import GridSpec
from stages.codex.interpreter import evaluate, observables
from stages.qwave.compiler import cache_stats
from stages.qwave.precision import recommend_precision_for_opcode
from stages.qwave.stage import QWaveStage

GRID = GridSpec((16, 16), 1.0 / 16, "periodic")
U = call("random")  # seeded by the beam's seed: same structure, different values per cell
HEAT = Node("add", (U, Node("mul", (num(0.001), Node("div", (Node("grad", (U,)),))))))
LAP = Node("lap", (U,))
FLUX = Node("outer", (Node("grad", (U,)), Node("grad", (U,))))


@contextmanager
def backend_compiles() -> Iterator[list[str]]:
    """Every XLA backend compilation JAX performs inside the block (independent of our counters)."""
    import jax.monitoring

    seen: list[str] = []

    def listener(name: str, _duration: float, **_: Any) -> None:
        if name == "/jax/core/compile/backend_compile_duration":
            seen.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def run(stage: QWaveStage, beams: list[Envelope], **flags: Any) -> list[list[Envelope]]:
    return stage.process(beams, context(**flags))


def sheet(run_id: str) -> list[Envelope]:
    return [rewrite_beam(nf, GRID, cell_id=name, run_id=run_id, seed=i)
            for i, (name, nf) in enumerate([("heat", HEAT), ("lap", LAP), ("flux", FLUX)])]


def test_second_run_of_a_sheet_compiles_nothing() -> None:
    stage = QWaveStage()
    first = run(stage, sheet("run-a"))
    assert all(out and out[0].payload["stage"] == "qwave" for out in first)
    before = cache_stats()
    with backend_compiles() as compiles:
        second = run(stage, sheet("run-b"))
    after = cache_stats()
    assert after.compiles == before.compiles
    assert after.hits == before.hits + 3
    assert compiles == []
    assert all(out[0].payload["runtime"]["cache_hit"] for out in second)


def test_vmapped_batch_equals_one_by_one() -> None:
    stage = QWaveStage()
    nf = Node("oplus", (Node("lap", (U,)), U))
    beams = [rewrite_beam(nf, GRID, cell_id=f"c{i}", seed=10 + i) for i in range(5)]
    batched = run(stage, beams, PHASE10_ENABLED=True)
    single = [run(stage, [beam], PHASE10_ENABLED=True)[0] for beam in beams]
    assert [out[0].payload["runtime"]["batch_size"] for out in batched] == [5] * 5
    assert [out[0].payload["runtime"]["batch_size"] for out in single] == [1] * 5
    assert [[without_runtime(e) for e in out] for out in batched] == [[without_runtime(e) for e in out]
                                                                      for out in single]
    observed = [out[1].payload["result"]["observables"]["max"] for out in batched]
    assert len(set(observed)) == 5  # the members really had different inputs
    assert {e.type for e in batched[0]} == {"BeamEvent", "CollapseTrace", "PrecisionProfile"}


def test_batched_executions_are_bit_identical_for_reductions_and_loops() -> None:
    from stages.qwave.compiler import run_batch, run_program
    from stages.qwave.formats import PrecisionPlan
    from stages.qwave.program import evaluate_inputs, split_inputs

    u = ref("u")
    nf = Node("evolve", (num(12), U, Node("oplus", (u, Node("mul", (num(0.01), Node("lap", (u,))))))), value="u")
    program = split_inputs(nf)
    members = [evaluate_inputs(program, GRID, seed=s) for s in range(3)]
    plan = PrecisionPlan.uniform("fp32")
    together = run_batch(program, GRID, plan, members)
    for member, result in zip(members, together, strict=True):
        alone = run_program(program, GRID, plan, member)
        assert np.array_equal(alone.value, result.value)
        assert alone.last_step_norm == result.last_step_norm


def test_results_match_the_reference_interpreter_and_goal_operands() -> None:
    goal = Node("lt", (ref("energy"), call("energy", U)))
    beam = rewrite_beam(HEAT, GRID, goal=goal, main_input=U, seed=4)
    events = run(QWaveStage(), [beam])[0]
    assert [e.type for e in events] == ["BeamEvent", "BeamEvent", "CollapseTrace"]
    collapse = events[1].payload["result"]
    reference = observables(evaluate(HEAT, GRID, seed=4), GRID)
    for name in ("norm", "energy", "max", "min", "entropy"):
        assert collapse["observables"][name] == pytest.approx(reference[name], rel=1e-5, abs=1e-6)
    assert collapse["goal_values"][operand_key(call("energy", U))] == evaluate(call("energy", U), GRID, seed=4)
    assert collapse["input_entropy"] == pytest.approx(observables(evaluate(U, GRID, seed=4), GRID)["entropy"])
    assert collapse["route"] == "qwave" and collapse["attractor"] is None
    for event in events:
        assert decode(encode(event)) == event


def test_inputs_not_routed_to_qwave_give_nothing() -> None:
    stage = QWaveStage()
    symbolic = rewrite_beam(LAP, GRID, route="symbolic")
    ingest = rewrite_beam(LAP, GRID, stage="ingest")
    assert run(stage, [symbolic, ingest]) == [[], []]


@pytest.mark.parametrize(
    ("normal_form", "grid", "precision", "fragment"),
    [
        (Node("add", (call("sample", U, num(3)), num(1))), GRID, None, "sample"),
        (Node("curl", (Node("grad", (U,)),)), GridSpec((16,), 1 / 16), None, "curl"),
        (LAP, GRID, "fp16", "precision"),
        (Node("attr", value="score.qscore"), GRID, None, "attr"),
        (Node("ddt", (U,)), GRID, None, "time axis"),
    ],
    ids=["nested-sample", "curl-1d", "bad-precision", "attr", "ddt-without-time"],
)
def test_unsupported_cells_give_one_stage_error(normal_form: Node, grid: GridSpec, precision: str | None,
                                                fragment: str) -> None:
    stage = QWaveStage()
    good = rewrite_beam(LAP, GRID, cell_id="ok")
    bad = rewrite_beam(normal_form, grid, cell_id="bad", precision=precision)
    out_bad, out_good = run(stage, [bad, good], PHASE10_ENABLED=False)
    assert [e.type for e in out_bad] == ["StageError"]
    error = out_bad[0].payload
    assert error["stage"] == "qwave" and error["cell_id"] == "bad"
    assert fragment in error["errors"][0]["message"]
    assert [e.type for e in out_good] == ["BeamEvent", "BeamEvent", "CollapseTrace"]


def test_malformed_rewrite_result_is_a_stage_error() -> None:
    beam = rewrite_beam(LAP, GRID)
    broken = beam.model_copy(update={"payload": {**beam.payload, "result": {"route": "qwave"}}})
    assert [e.type for e in run(QWaveStage(), [broken])[0]] == ["StageError"]


def test_samples_repeat_per_eid_and_differ_between_eids() -> None:
    psi = call("plane_wave", k=Node("tuple", (num(4), num(0))))
    nf = call("sample", Node("mul", (psi, call("gaussian"))), num(40))

    def samples(eid: str) -> list[int]:
        events = run(QWaveStage(), [rewrite_beam(nf, GRID, eid=eid)])[0]
        trace = events[2].payload
        assert trace["output"]["samples"] == events[1].payload["result"]["samples"]
        return list(events[1].payload["result"]["samples"])

    first, again, other = samples("eid::r::a"), samples("eid::r::a"), samples("eid::r::b")
    assert first == again
    assert first != other
    assert all(0 <= i < GRID.points for i in first)


def test_precision_auto_follows_the_per_opcode_recommendation() -> None:
    beam = rewrite_beam(LAP, GRID, precision="auto")
    events = run(QWaveStage(), [beam], PHASE10_ENABLED=True)[0]
    qwave = events[0].payload["result"]
    assert qwave["precision_used"] == {"lap": recommend_precision_for_opcode("lap")}
    profiles = [e.payload for e in events if e.type == "PrecisionProfile"]
    assert [p["opcode"] for p in profiles] == ["lap"]
    assert profiles[0]["recommended"] == recommend_precision_for_opcode("lap")


def test_reduced_precision_cell_really_rounds() -> None:
    smooth = call("gaussian")
    nf = Node("mul", (smooth, num(3.0)))
    values = {}
    for precision in ("fp32", "bf16", "int8"):
        events = run(QWaveStage(), [rewrite_beam(nf, GRID, precision=precision)])[0]
        values[precision] = events[1].payload["result"]["observables"]["norm"]
        assert events[0].payload["result"]["precision_used"] == precision
    reference = observables(evaluate(nf, GRID), GRID)["norm"]
    assert relative_gap(values["fp32"], reference) < 1e-6
    for reduced in ("bf16", "int8"):
        assert values[reduced] != values["fp32"]
        assert abs(values[reduced] - reference) / reference < 2e-2


async def test_handle_is_a_batch_of_one_and_repeatable() -> None:
    stage = QWaveStage()
    beams = [rewrite_beam(LAP, GRID, cell_id=f"h{i}", seed=i) for i in range(3)]
    ctx = context()
    first = await stage.handle(beams[0], ctx)
    again = await stage.handle(beams[0], ctx)  # redelivery: same ids, same content
    assert [without_runtime(e) for e in first] == [without_runtime(e) for e in again]
    together = await stage.handle_batch(beams, context(PHASE10_ENABLED=True))
    assert len(together) == 3
    assert [without_runtime(e) for e in together[0] if e.type != "PrecisionProfile"] == [
        without_runtime(e) for e in first
    ]
    assert all(e.causation_id == beams[i].event_id for i, out in enumerate(together) for e in out)


def test_importing_the_stage_does_not_import_jax() -> None:
    import subprocess
    import sys

    code = "import sys, stages.qwave.stage, stages.qwave.collapse; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_large_cells_are_batched_in_smaller_groups() -> None:
    from stages.qwave.jobs import prepare
    from stages.qwave.precision import plan_for
    from stages.qwave.stage import BATCH_ELEMENT_BUDGET

    stage = QWaveStage()
    small = prepare(rewrite_beam(HEAT, GRID), data_dir=None, plan_for=plan_for)
    large = prepare(rewrite_beam(HEAT, GridSpec((128, 128), 1 / 128)), data_dir=None, plan_for=plan_for)
    assert small is not None and large is not None
    assert stage.group_limit(small) == stage.max_group == 64
    assert large.input_elements == 128 * 128  # random() only: the coordinate-free heat cell
    assert stage.group_limit(large) == BATCH_ELEMENT_BUDGET // (128 * 128) == 16
    groups = stage.groups([(i, large) for i in range(40)], vectorise=True)
    assert [len(g) for g in groups] == [16, 16, 8]
