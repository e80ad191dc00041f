"""Profile the workloads of missed targets (cProfile; py-spy and pyinstrument are not installed).

For each target id given, runs a reduced but representative workload of that benchmark
under cProfile and prints a Markdown section: the top frames by own time and the
project's top frames by cumulative time. Memory (P9) gets tracemalloc's top
allocation sites instead, start-up (P10) ``python -X importtime``'s slowest imports.

    .venv/bin/python scripts/bench/profile_missed.py P1 P3 P5 P7
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH_DIR))

TOP = 12


def short(filename: str) -> str:
    return filename.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "").replace(sys.base_prefix + "/", "")


def frames(stats: pstats.Stats, top: int = TOP) -> list[str]:
    """Top frames by own time, then the project's top frames by cumulative time."""
    entries = stats.stats.items()  # type: ignore[attr-defined]
    total = sum(own for _, (_, _, own, _, _) in entries) or 1.0
    rows = sorted(((own, cum, calls, key) for key, (_, calls, own, cum, _) in entries), reverse=True)
    out = [f"total profiled CPU {total:.2f} s", "", "| own s | share | cum s | calls | frame |", "|---|---|---|---|---|"]
    for own, cum, calls, (filename, line, function) in rows[:top]:
        out.append(f"| {own:.3f} | {100 * own / total:.1f}% | {cum:.3f} | {calls} | "
                   f"`{short(filename)}:{line}({function})` |")
    ours = sorted(((cum, own, calls, key) for own, cum, calls, key in rows
                   if key[0].startswith(str(ROOT)) and "scripts/bench" not in key[0]), reverse=True)
    out += ["", "Project frames by cumulative time:", "", "| cum s | own s | calls | frame |", "|---|---|---|---|"]
    for cum, own, calls, (filename, line, function) in ours[:top]:
        out.append(f"| {cum:.3f} | {own:.3f} | {calls} | `{short(filename)}:{line}({function})` |")
    return out


def profiled(fn: Callable[[], Any]) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    return pstats.Stats(profiler)


def pipeline_profile() -> list[str]:
    """P1/P2: one embedded run of 300 cells, profiled in a fresh child process."""
    import bench_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.prof"
        bench_pipeline.spawn(300, 10_000, Path(tmp) / "p.db", profile=path)
        return frames(pstats.Stats(str(path)))


def bus_profile() -> list[str]:
    """P3: the Kafka pipeline of bench_bus (2,000 events, one mock cluster)."""
    import bench_bus

    from bus.kafka import KafkaBus
    from bus.kafka_mock import MockCluster

    events = bench_bus.small_events(2000)
    with MockCluster(initial_rebalance_delay_ms=0) as cluster:
        bus = KafkaBus(bootstrap=cluster.bootstrap, **bench_bus.KAFKA)
        return frames(profiled(lambda: asyncio.run(bench_bus.through_pipeline(bus, events))))


def qwave_profile() -> list[str]:
    """P5: 64 cells on 64² through the stage, PHASE10 batch (the vmapped path)."""
    import bench_qwave

    from stages.qwave.stage import QWaveStage

    node, grid = bench_qwave.small_cell(64)
    stage = QWaveStage()
    batch = bench_qwave.beams(node, grid, 64, "profile")
    stage.process(batch, bench_qwave.context(True))  # compile outside the profile
    return frames(profiled(lambda: [stage.process(batch, bench_qwave.context(True)) for _ in range(5)]))


def photon_profile() -> list[str]:
    """P7: Photon's normalize on 200 generated expressions."""
    import bench_photon

    from stages.photon.normalize import normalize

    rng = random.Random(7)
    exprs = [bench_photon.generate(rng, 5) for _ in range(200)]
    return frames(profiled(lambda: [normalize(e, bench_photon.GRID) for e in exprs]))


def replay_profile() -> list[str]:
    """P8: 300 ghost replays and lineages on the quick store (built by a quick run)."""
    from store.beam_store import open_store
    from store.sample_runs import eid_for

    db = ROOT / "build/bench/replay-30000.db"
    if not db.exists():
        return ["(no build/bench/replay-30000.db: run `run_all.py --quick --only replay` first)"]
    store = open_store(f"sqlite:///{db}")
    runs = [e.sheet_run_id for e in store.events(types=["SheetSubmitted"])]
    rng = random.Random(1)

    def work() -> None:
        for _ in range(300):
            run = rng.choice(runs)
            store.ghost_replay_for_eid(eid_for(run, ["c0", "c1"]), last=100)
            store.get_lineage_for_cell("c0", sheet_run_id=run)

    try:
        return frames(profiled(work))
    finally:
        store.close()


def memory_profile() -> list[str]:
    """P9: tracemalloc's top allocation sites still held after a 300-cell embedded run."""
    code = f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(BENCH_DIR)!r}]\n" + (
        "import asyncio, tracemalloc, tempfile\n"
        "import bench_pipeline as b\n"
        "from beamline.flags import digest, resolve\n"
        "from beamline.pipeline import execute_embedded, submission\n"
        "from store.beam_store import open_store\n"
        "flags = resolve(flags_file=b.ROOT / 'flags.toml', environ={})\n"
        "initial = [submission(b.sheet_source(0, 300, 'm'), filename='m.codex', flags=flags,"
        " flags_digest=digest(flags), seed=0, container_id='bench', run_id='run-m')]\n"
        "store = open_store('sqlite:///' + tempfile.mkdtemp() + '/m.db', migrate=True)\n"
        "tracemalloc.start(8)\n"
        "result = asyncio.run(execute_embedded(initial, store=store, flags=flags))\n"
        "current, peak = tracemalloc.get_traced_memory()\n"
        "print(f'traced: held after the run {current / 2**20:.1f} MiB, peak during it {peak / 2**20:.1f} MiB')\n"
        "for stat in tracemalloc.take_snapshot().statistics('filename')[:12]:\n"
        "    print(f'{stat.size / 2**20:.2f} MiB in {stat.count} blocks: {stat.traceback[0].filename}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=900,
                          check=False)
    lines = done.stdout.strip().splitlines() or [done.stderr.strip()[-500:]]
    return ["```", *(short(line) for line in lines), "```"]


def startup_profile() -> list[str]:
    """P10: the slowest imports of `import beamline.cli` (``-X importtime``, cumulative µs)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import beamline.cli"], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return ["| cumulative µs | module |", "|---|---|", *(f"| {us:,} | `{name.strip()}` |" for us, name in rows[:TOP])]


PROFILES: dict[str, tuple[str, Callable[[], list[str]]]] = {
    "P1": ("embedded pipeline (also P2)", pipeline_profile),
    "P2": ("embedded pipeline (also P1)", pipeline_profile),
    "P3": ("Kafka pipeline on the mock broker", bus_profile),
    "P5": ("QWave stage, vmapped batch", qwave_profile),
    "P7": ("Photon normalize", photon_profile),
    "P8": ("replay queries", replay_profile),
    "P9": ("memory held by an embedded run", memory_profile),
    "P10": ("start-up imports", startup_profile),
}


def sections(targets: list[str]) -> list[str]:
    out: list[str] = []
    done: set[Callable[[], list[str]]] = set()
    for target in targets:
        if target not in PROFILES or PROFILES[target][1] in done:
            continue
        title, fn = PROFILES[target]
        done.add(fn)
        print(f"profiling {target} ({title}) …", file=sys.stderr, flush=True)
        try:
            body = fn()
        except Exception as exc:  # a profile that fails is reported, the others still run
            body = [f"profile failed: {type(exc).__name__}: {exc}"]
        out += [f"### {target}: {title}", "", f"_{(fn.__doc__ or '').strip()}_", "", *body, ""]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", help="target ids, e.g. P1 P7")
    args = parser.parse_args()
    print("\n".join(sections(args.targets)))


if __name__ == "__main__":
    main()
