"""Run every benchmark in one go and write BENCHMARKS.md (``make bench``).

    .venv/bin/python scripts/bench/run_all.py            # the sizes of quality.md (~30 min on 2 idle cores)
    .venv/bin/python scripts/bench/run_all.py --quick    # smaller sizes, same checks (< 3 min)
    .venv/bin/python scripts/bench/run_all.py --only qwave,photon --out /tmp/B.md

Each ``bench_*.py`` runs as its own process and prints one JSON object on its last
stdout line; each checks what it timed against a reference before reporting
(a failed check is a failed benchmark, shown as such). Figures are medians of ≥ 5
runs with min–max; every comparison is a ratio measured side by side in the same
run, since absolute numbers drift on shared machines. The raw results are kept in
build/bench/results-<mode>.json (ignored by git); the 1,000,000-event store of P8
is cached in build/bench/ and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parents[1]
CACHE = Path("build/bench")  # relative to ROOT; ignored by git
sys.path.insert(0, str(BENCH_DIR))

from benchlib import machine  # noqa: E402
from report import issue_sections, target_table  # noqa: E402

# key: (script, full-mode arguments, quick-mode arguments)
SUITE: dict[str, tuple[str, list[str], list[str]]] = {
    "startup": ("bench_startup.py", ["--runs", "7"], ["--runs", "5"]),
    "pipeline": ("bench_pipeline.py",
                 ["--cells", "10000", "--runs", "5", "--floor-runs", "5", "--memory-cells", "100000"],
                 ["--cells", "150", "--runs", "5", "--floor-runs", "5", "--memory-cells", "750"]),
    "bus": ("bench_bus.py", ["--events", "100000", "--runs", "5"], ["--events", "5000", "--runs", "5"]),
    "qwave": ("bench_qwave.py", ["--runs", "7"], ["--runs", "5", "--other-sizes", ""]),
    "photon": ("bench_photon.py", ["--count", "500", "--runs", "5", "--check-sample", "500"],
               ["--count", "60", "--runs", "5"]),
    "replay": ("bench_replay.py",
               ["--events", "1000000", "--queries", "500", "--rounds", "5", "--db", f"{CACHE}/replay-1000000.db"],
               ["--events", "30000", "--queries", "100", "--rounds", "5", "--db", f"{CACHE}/replay-30000.db"]),
    "parse": ("bench_parse.py", ["--cells", "1000", "--repeats", "7"], ["--cells", "1000", "--repeats", "5"]),
    "soullaw": ("bench_soullaw.py", ["--decisions", "20000", "--repeats", "5"],
                ["--decisions", "2000", "--repeats", "5"]),
    "basin": ("bench_basin.py", ["--json", "--runs", "7", "--loops", "200"],
              ["--json", "--runs", "5", "--loops", "20"]),
}

VERSIONS = ("numpy", "jax", "jaxlib", "torch", "SQLAlchemy", "sympy", "orjson", "pydantic", "aiokafka",
            "confluent-kafka")


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def run(script: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(BENCH_DIR / script), *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout_s:.0f} s", "wall_s": round(time.perf_counter() - started)}
    elapsed = round(time.perf_counter() - started, 1)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        tail = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()][-1:]
        why = tail[0] if tail else "no output"
        kind = "correctness check failed" if "BenchCheckFailed" in why else f"exit {proc.returncode}"
        return {"error": f"{kind}: {why[:300]}", "wall_s": elapsed}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"last line is not JSON: {lines[-1][:200]}", "wall_s": elapsed}
    result["wall_s"] = elapsed
    return result


def header(quick: set[str], command: str, started: datetime, total_s: float, results: dict[str, Any],
           load: tuple[str, str]) -> list[str]:
    m = machine()
    versions = [f"python {platform.python_version()}"] + [f"{p} {version(p)}" for p in VERSIONS]
    versions.append(f"sqlite {sqlite3.sqlite_version}")
    lines = ["# Benchmarks", ""]
    quick_run = sorted(quick & set(results))
    mode = "full" if not quick_run else "quick" if set(quick_run) == set(results) else "mixed"
    if quick_run:
        lines += [f"> **QUICK MODE** for {', '.join(quick_run)}: smaller sizes and fewer calls than quality.md asks "
                  "for (see each command below).", "> Those figures are for development; they are not the spec's "
                  "measurements.", ""]
    lines += [
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {total_s / 60:.1f} min "
        f"({mode} mode). Every figure is the median of ≥ 5 runs with min–max; every "
        "comparison is a ratio measured side by side in the same run (the machine is shared and noisy: "
        "absolute numbers drift, ratios hold). Every benchmark checks what it times against a reference "
        "before it reports (a fast wrong answer fails).",
        "",
        f"* machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB memory, {platform.platform()}; "
        f"load average (1 min) {load[0]} at the start, {load[1]} at the end (shared machine: wall times above CPU "
        "times mean other work was running)",
        "* versions: " + ", ".join(versions) + "; store: SQLite (no PostgreSQL used)",
        "* per benchmark (script and arguments, wall time):",
    ]
    for key, (script, full, quick_args) in SUITE.items():
        if key in results:
            args = quick_args if key in quick else full
            label = " (quick)" if key in quick else ""
            lines.append(f"  * `python scripts/bench/{script} {shlex.join(args)}`{label} — "
                         f"{results[key].get('wall_s')} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 3 minutes), labelled as quick")
    parser.add_argument("--quick-only", default="", help="comma-separated benchmarks to run at quick sizes "
                        "(the others at full size); their rows are labelled")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(SUITE)}")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark script")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="profile the missed targets and add their top frames (default: in full mode only)")
    args = parser.parse_args()
    only = [k for k in args.only.split(",") if k]
    quick = set(SUITE) if args.quick else {k for k in args.quick_only.split(",") if k}
    unknown = (set(only) | quick) - set(SUITE)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(SUITE)}")
    command = "make bench" if not sys.argv[1:] else "python scripts/bench/run_all.py " + shlex.join(sys.argv[1:])
    (ROOT / CACHE).mkdir(parents=True, exist_ok=True)
    started, wall0, load0 = datetime.now(UTC), time.perf_counter(), f"{os.getloadavg()[0]:.1f}"
    results: dict[str, Any] = {}
    for key, (script, full, quick_args) in SUITE.items():
        if only and key not in only:
            continue
        print(f"running {key} ({script}) …", flush=True)
        results[key] = run(script, quick_args if key in quick else full, args.timeout)
        print(f"  {results[key].get('error', 'ok')} in {results[key]['wall_s']} s", flush=True)
    total_s = time.perf_counter() - wall0
    mode = "quick" if quick >= set(results) else "full" if not quick & set(results) else "mixed"
    (ROOT / CACHE / f"results-{mode}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    lines = header(quick, command, started, total_s, results, (load0, f"{os.getloadavg()[0]:.1f}"))
    table = target_table(results, quick)
    lines += ["", "## Targets of quality.md (P1–P10)", "", *table, "",
              "## Issue figures", "", *issue_sections(results), ""]
    missed = sorted({line.split("|")[1].strip() for line in table if "**missed**" in line},
                    key=lambda target: int(target[1:]))
    if missed and (args.profile if args.profile is not None else not quick):
        print(f"profiling {', '.join(missed)} …", flush=True)
        proc = subprocess.run([sys.executable, str(BENCH_DIR / "profile_missed.py"), *missed], capture_output=True,
                              text=True, cwd=ROOT, timeout=args.timeout, check=False)
        body = proc.stdout.strip() or f"profiling failed: {proc.stderr.strip()[-500:]}"
        lines += ["## Profiles of the missed targets", "",
                  "cProfile of a reduced workload of each missed target (py-spy and pyinstrument are not installed); "
                  "own time is CPU time in the frame itself.", "", body, ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out} ({mode} mode, {total_s / 60:.1f} min)")


if __name__ == "__main__":
    main()
