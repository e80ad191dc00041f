"""SoulLaw decision time: the default policy (soullaw.toml) evaluated on many beams.

Measures, per decision, (a) ``decide`` alone — the compiled rule closures plus
the deadline checks — (b) a whole SQI assessment without a basin (scores,
input digest, decision) with the policy held in memory, and (c) the same as the
stage runs it, re-reading and hashing ``soullaw.toml`` per beam. Inputs are a mix of approved and denied beams. Each
figure is the median over ``--repeats`` runs of that run's percentile. Also
reports the one-off cost of loading and compiling the policy. Checks first that every
decision is the expected verdict. Prints one JSON object.

    .venv/bin/python scripts/bench/bench_soullaw.py
    .venv/bin/python scripts/bench/bench_soullaw.py --decisions 5000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchlib import check, emit, machine, percentile, spread  # noqa: E402

from contracts.payloads import BeamEvent, SheetSubmitted  # noqa: E402
from contracts.registry import make_event  # noqa: E402
from stages.base import StageContext  # noqa: E402
from stages.sqi.assess import DEFAULT_POLICY_PATH, Assessor  # noqa: E402
from stages.sqi.soullaw import decide, policy_from_text  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def result_for(i: int) -> dict[str, Any]:
    """Beam results cycling through approved, non-finite, over memory cap, CFL-unstable and low qscore."""
    kind = i % 5
    return {
        "normal_form": {"op": "lap", "args": [{"op": "ref", "value": "u"}]},
        "goal": {"op": "lt", "args": [{"op": "ref", "value": "energy"}, {"op": "num", "value": 1.0}]},
        "rewrite_success_prob": 0.0 if kind == 4 else 0.9,
        "cost": {"flops": 1e4 + i, "bytes": 8e9 if kind == 2 else 4096.0 + i, "energy": 1e-9, "delay": 1e-6,
                 "ethics_risk": 0.0, "opportunity_loss": 0.0, "total": 1e4, "risk_flags": [],
                 "cfl": 3.0 if kind == 3 else (0.4 if i % 2 else None)},
        "observables": {"norm": 1.0, "energy": 5.0 if kind == 4 else 0.5, "mean": 0.0, "min": -1.0,
                        "max": 1.0, "entropy": 4.0, "finite": kind != 1},
        "goal_values": {}, "input_entropy": 5.0, "attractor": None, "route": "qwave", "fork": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    text = DEFAULT_POLICY_PATH.read_bytes()
    load_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        policy = policy_from_text(text, origin=str(DEFAULT_POLICY_PATH))
        load_times.append(time.perf_counter() - start)

    flags = {"SQI_W_GOAL": 1.0, "SQI_W_REWRITE": 1.0, "SQI_W_DRIFT": 1.0, "SQI_W_STABILITY": 1.0, "stage.sqi": True}
    root = make_event(SheetSubmitted(sheet_run_id="bench", container_id="c", source="..."), stage_id="cli",
                      index=0, sheet_run_id="bench", container_id="c", occurred_at=T0)
    beams = [
        make_event(BeamEvent(beam_id=f"b{i}", cell_id=f"c{i}", sheet_run_id="bench", container_id="c", eid="e",
                             stage="collapse", token="Δ", result=result_for(i), timestamp=T0.isoformat()),
                   stage_id="qwave", index=i, parent=root, occurred_at=T0)
        for i in range(args.decisions)
    ]

    class Reader:
        def events(self, **_: Any) -> list[Any]:
            return [root]

    ctx = StageContext(flags=flags, flags_digest="bench", clock=lambda: T0, reader=Reader())
    assessor = Assessor(policy=policy)
    from_file = Assessor()  # re-reads and hashes soullaw.toml per beam; compiled closures are memoised
    inputs = []
    for beam in beams:
        result = beam.payload["result"]
        inputs.append({"beam": result, "score": {"qscore": 0.2 if result["rewrite_success_prob"] == 0 else 0.9},
                       "cost": result["cost"], "flags": flags, "identity": "user"})

    # The decisions must be right before their time means anything: kind 0 of result_for is the
    # only approved one (the others are non-finite, over the memory cap, CFL-unstable, low qscore).
    wrong = [i for i, d in enumerate(inputs) if decide(policy, d, input_digest="-").allowed != (i % 5 == 0)]
    check(not wrong, f"{len(wrong)} SoulLaw decisions differ from the expected verdict (first: beam {wrong[:1]})")
    wrong = [i for i, b in enumerate(beams[:200]) if assessor.assess(b, ctx).decision.allowed != (i % 5 == 0)]
    check(not wrong, f"{len(wrong)} assessments differ from the expected verdict")

    decide_runs: list[tuple[float, float, float]] = []
    assess_runs: list[tuple[float, float, float]] = []
    file_runs: list[tuple[float, float, float]] = []
    denied = 0
    for _ in range(args.repeats):
        samples = []
        for decision_input in inputs:
            start = time.perf_counter_ns()
            decide(policy, decision_input, input_digest="-")
            samples.append((time.perf_counter_ns() - start) / 1000)
        denied = sum(1 for d in inputs if not decide(policy, d, input_digest="-").allowed)
        decide_runs.append((percentile(samples, 50), percentile(samples, 99), statistics.fmean(samples)))
        samples = []
        for beam in beams:
            start = time.perf_counter_ns()
            assessor.assess(beam, ctx)
            samples.append((time.perf_counter_ns() - start) / 1000)
        assess_runs.append((percentile(samples, 50), percentile(samples, 99), statistics.fmean(samples)))
        samples = []
        for beam in beams:
            start = time.perf_counter_ns()
            from_file.assess(beam, ctx)
            samples.append((time.perf_counter_ns() - start) / 1000)
        file_runs.append((percentile(samples, 50), percentile(samples, 99), statistics.fmean(samples)))

    def over_runs(runs: list[tuple[float, float, float]]) -> dict[str, dict[str, Any]]:
        return {name: spread((r[i] for r in runs), 2) for i, name in enumerate(("p50", "p99", "mean"))}

    emit({
        "bench": "soullaw", "machine": machine(), "checked": True,
        "policy": {"file": str(DEFAULT_POLICY_PATH.relative_to(ROOT)), "rules": len(policy.rules),
                   "hash": policy.policy_hash[:16], "load_compile_ms": round(statistics.median(load_times) * 1e3, 3)},
        "decisions": args.decisions, "repeats": args.repeats, "denied_fraction": round(denied / len(inputs), 3),
        "decide_us": over_runs(decide_runs),
        "assess_us": over_runs(assess_runs),
        "assess_policy_file_us": over_runs(file_runs),
    })


if __name__ == "__main__":
    main()
