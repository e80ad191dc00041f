"""P1, P2, P9 — the embedded pipeline with SQLite persistence.

A generated sheet of N small cells (16×16 grid, every cell far below
COST_THRESHOLD, a handful of expression shapes with repeated coefficients, one
shape in five carrying a goal) runs through every stage (codex, photon, qwave,
sqi, spe) on the memory bus with a fresh SQLite file store. Each run is a fresh
child process, so runs do not share caches and the child's peak RSS is its own.

* **P1** events persisted per second: rows in the store after the run / wall time
  of ``execute_embedded`` (store opening and migration excluded). Target ≥ 10,000.
* **P2** the same run against its floor: the stored events are read back (not
  timed), then orjson-encoded and inserted with plain sqlite3 ``executemany`` into
  a fresh file with the store's schema, ``--floor-batch`` per transaction; ratio =
  pipeline wall / floor wall, run i against run i. Target ≤ 4. The same events
  through ``persist_beam_events`` (the store's own batch insert) are reported too.
* **P9** peak RSS (VmHWM of the child) of a big run / of an N-cell run.
  A sheet is one SheetSubmitted message, capped at 1 MiB on the bus, so a run is
  split into sheets of ``--sheet-cells`` cells (default 10,000): the 100,000-cell
  run submits ten sheets. Target ≤ 1.2.

Each run's store is checked (``verify_run``: every cell through every stage, no
dead letter, rows = events the pipeline reports) before its time counts.
Prints one JSON object on the last stdout line.

    .venv/bin/python scripts/bench/bench_pipeline.py                       # 10,000 cells; P9 vs 100,000
    .venv/bin/python scripts/bench/bench_pipeline.py --cells 1000 --runs 1 --memory-cells 0
    .venv/bin/python scripts/bench/bench_pipeline.py --cells 2000 --runs 1 --memory-cells 0 --profile /tmp/p.prof
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchlib import check, emit, machine, spread  # noqa: E402

# Expression shapes of the generated cells; {a} cycles through a few coefficients so
# that whole cells repeat (SPE motifs, Photon's normal-form cache see real repetition).
SHAPES = (
    "Δu + {a}*u",
    "{a}*u - v",
    "∇·(∇u) + {a}*v",
    "u * u * {a}",
    "(u + {a}) * v",
)
COEFFICIENTS = (0.5, 0.25, 0.75, 1.5)
GOAL_EVERY = 5  # one cell in five carries a goal (SQI scores goal operands)


def sheet_source(first: int, count: int, name: str) -> str:
    """A sheet of ``count`` cells named ``c<first>`` … on a 16×16 grid."""
    lines = [f"sheet {name}", "grid 16x16 spacing 0.0625 boundary periodic",
             "let u = gaussian(center=(0.5, 0.5), width=0.2)", "let v = const(1.0)"]
    for i in range(first, first + count):
        expr = SHAPES[i % len(SHAPES)].format(a=COEFFICIENTS[(i // len(SHAPES)) % len(COEFFICIENTS)])
        goal = "   goal: energy < energy(u)" if i % GOAL_EVERY == 0 else ""
        lines.append(f"cell c{i} : {expr}{goal}")
    return "\n".join(lines) + "\n"


def count_rows(db_path: Path) -> dict[str, int]:
    """Rows of the store by type, BeamEvents by stage and rewrite route, and distinct cells per
    type (read with plain sqlite3, after the store is closed)."""
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT type, count(*), count(DISTINCT cell_id) FROM events GROUP BY type").fetchall()
        stages = connection.execute(
            "SELECT stage, count(*) FROM events WHERE type = 'BeamEvent' GROUP BY stage").fetchall()
        routes = connection.execute(
            "SELECT json_extract(payload, '$.result.route'), count(*) FROM events "
            "WHERE type = 'BeamEvent' AND stage = 'rewrite' GROUP BY 1").fetchall()
    counts = {str(kind): int(n) for kind, n, _ in rows}
    counts.update({f"cells:{kind}": int(distinct) for kind, _, distinct in rows})
    counts.update({f"beam:{stage}": int(n) for stage, n in stages})
    counts.update({f"route:{route}": int(n) for route, n in routes})
    return counts


def stored_events(rows: dict[str, int]) -> int:
    return sum(n for kind, n in rows.items() if ":" not in kind)


# One of each per cell: what every cell of the sheet must leave in the store.
PER_CELL_TYPES = ("GlyphExecution", "CollapseTrace", "SQIScore", "SoulLawDecision")
PER_CELL_BEAM_STAGES = ("ingest", "rewrite", "collapse")


def verify_run(figures: dict[str, Any]) -> None:
    """The run stored what a correct pipeline stores: every cell through every stage, nothing lost."""
    rows, cells = figures["rows_by_type"], figures["cells"]
    check(figures["dead_letters"] == 0, f"{figures['dead_letters']} dead letters")
    check(rows.get("SheetSubmitted") == figures["sheets"], f"{rows.get('SheetSubmitted')} sheets stored")
    for kind in PER_CELL_TYPES:
        check(rows.get(kind) == cells and rows.get(f"cells:{kind}") == cells,
              f"{kind}: {rows.get(kind)} events for {rows.get(f'cells:{kind}')} cells, expected {cells}")
    for stage in PER_CELL_BEAM_STAGES:
        check(rows.get(f"beam:{stage}") == cells, f"BeamEvent {stage}: {rows.get(f'beam:{stage}')} of {cells}")
    decided = rows.get("beam:approved", 0) + rows.get("beam:vetoed", 0)
    check(decided == cells, f"{decided} approved/vetoed beams for {cells} cells")
    check(figures["rows"] == figures["pipeline_events"],
          f"{figures['rows']} rows stored, the pipeline reports {figures['pipeline_events']} events")


# ------------------------------------------------------------------ child: one run


class RssSplit:
    """P9: the highest anonymous (Python heap, SQLite page cache) and file-backed (libraries, SQLite's
    memory-mapped store file) resident set seen, sampled from /proc/self/status while a run goes on.

    The peak RSS is their sum at one instant; the split tells a heap that grows with the run from
    mapped store pages, which stop at the store's mmap size. Empty where /proc is missing."""

    def __init__(self, every_s: float = 0.25) -> None:
        self.peak_kib: dict[str, int] = {}
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-split", daemon=True)

    def __enter__(self) -> RssSplit:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            try:
                with open("/proc/self/status", encoding="ascii") as status:
                    for line in status:
                        name, _, value = line.partition(":")
                        if name in ("RssAnon", "RssFile"):
                            self.peak_kib[name] = max(self.peak_kib.get(name, 0), int(value.split()[0]))
            except OSError:
                return
            if self._stop.wait(self._every_s):
                return


def own_peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: Linux carries the RSS of the
    forked parent into a child's ``ru_maxrss`` at exec, so a run spawned by a bench holding the P2
    floor's events in memory reported the bench's size, not its own (1,596 MiB instead of ~670)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def warm_imports() -> None:
    """Import the pipeline and every stage's module before the clock starts. P1 is the pipeline's
    throughput: a 10,000-cell run pays its imports (NumPy, the stages, ~0.5 s) once in minutes, but a
    150-cell quick run would spend a quarter of its time on them (modules only: no stage is created)."""
    import importlib

    from stages.registry import STAGE_CLASSES

    importlib.import_module("bus.pipeline")
    for module_name, _ in STAGE_CLASSES.values():
        importlib.import_module(module_name)


def child_run(cells: int, sheet_cells: int, db_path: Path, profile: Path | None) -> dict[str, Any]:
    """One pipeline run in this (fresh) process; returns its figures."""
    from beamline.flags import digest, resolve
    from beamline.pipeline import execute_embedded, submission
    from store.beam_store import open_store

    flags = resolve(flags_file=ROOT / "flags.toml", environ={})
    flags_digest = digest(flags)
    initial = []
    for sheet, first in enumerate(range(0, cells, sheet_cells)):
        source = sheet_source(first, min(sheet_cells, cells - first), f"bench{sheet}")
        initial.append(submission(source, filename=f"bench{sheet}.codex", flags=flags, flags_digest=flags_digest,
                                  seed=sheet, container_id="bench", run_id=f"run-bench{sheet:03d}"))
    store = open_store(f"sqlite:///{db_path}", migrate=True)
    base_rss_kib = own_peak_rss_kib()
    warm_imports()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with RssSplit() as rss_split:
        result = asyncio.run(execute_embedded(initial, store=store, flags=flags))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    peak_rss_kib = own_peak_rss_kib()
    store.close()
    rows = count_rows(db_path)
    persisted = stored_events(rows)
    return {
        "cells": cells, "sheets": len(initial), "wall_s": wall, "cpu_s": cpu, "rows": persisted,
        "rows_by_type": rows, "pipeline_events": result.events, "dead_letters": result.dead_letters,
        "peak_rss_kib": peak_rss_kib, "start_rss_kib": base_rss_kib,
        "peak_anon_kib": rss_split.peak_kib.get("RssAnon"), "peak_file_kib": rss_split.peak_kib.get("RssFile"),
    }


def spawn(cells: int, sheet_cells: int, db_path: Path, profile: Path | None = None,
          timeout_s: float | None = None) -> dict[str, Any]:
    """``child_run`` in a fresh interpreter; its JSON line back."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--cells", str(cells),
               "--sheet-cells", str(sheet_cells), "--db", str(db_path)]
    if profile is not None:
        command += ["--profile", str(profile)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout_s, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"child run of {cells} cells failed (exit {proc.returncode}): {tail}")
    figures: dict[str, Any] = json.loads(lines[-1])
    verify_run(figures)
    return figures


# ------------------------------------------------------------------ P2 floor


FLOOR_COLUMNS = ("event_id", "type", "schema_version", "stage", "eid", "cell_id", "sheet_run_id", "container_id",
                 "occurred_at", "causation_id", "producer", "header", "payload")


def raw_floor_once(events: list[Any], batch: int, target_path: Path) -> float:
    """orjson-encode the events and insert them with plain sqlite3 ``executemany``, ``batch`` per
    transaction, into the store's own table (same indexes, same WAL pragmas): the least any
    persistence of these rows can cost. Returns the seconds taken."""
    import orjson

    from store.beam_store import open_store
    from store.rows import to_row

    open_store(f"sqlite:///{target_path}", migrate=True).close()  # the schema, untimed
    connection = sqlite3.connect(target_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO events ({', '.join(FLOOR_COLUMNS)}) VALUES ({', '.join('?' * len(FLOOR_COLUMNS))})"
    started = time.perf_counter()
    for offset in range(0, len(events), batch):
        rows = []
        for envelope in events[offset:offset + batch]:
            row = to_row(envelope)
            row["occurred_at"] = row["occurred_at"].isoformat(sep=" ")
            row["header"], row["payload"] = orjson.dumps(row["header"]), orjson.dumps(row["payload"])
            rows.append(tuple(row[column] for column in FLOOR_COLUMNS))
        connection.execute("BEGIN")
        connection.executemany(sql, rows)
        connection.execute("COMMIT")
    wall = time.perf_counter() - started
    connection.close()
    return wall


def store_floor_once(events: list[Any], batch: int, target_path: Path) -> float:
    """The same events through the store's own ``persist_beam_events`` (encode included)."""
    from store.beam_store import open_store

    target = open_store(f"sqlite:///{target_path}", migrate=True)
    started = time.perf_counter()
    for offset in range(0, len(events), batch):
        target.persist_beam_events(events[offset:offset + batch])
    wall = time.perf_counter() - started
    target.close()
    return wall


def floor_runs(db_path: Path, runs: int, batch: int, workdir: Path) -> dict[str, Any]:
    """Both floors for the events of ``db_path``, ``runs`` times each, into fresh files; every
    floor store is checked to hold exactly the source's events."""
    from store.beam_store import open_store

    source = open_store(f"sqlite:///{db_path}", migrate=True)
    events = list(source.iter_events(batch_size=5000))  # read back: not timed
    source.close()
    expected = sorted(e.event_id for e in events)
    walls: dict[str, list[float]] = {"raw": [], "store": []}
    for run in range(runs):
        for kind, once in (("raw", raw_floor_once), ("store", store_floor_once)):
            target_path = workdir / f"floor-{kind}{run}.db"
            walls[kind].append(once(events, batch, target_path))
            with sqlite3.connect(target_path) as connection:
                stored = [r[0] for r in connection.execute("SELECT event_id FROM events ORDER BY event_id")]
            check(stored == expected, f"{kind} floor stored {len(stored)} events, not the {len(expected)} of the run")
            target_path.unlink()
    mean_bytes = sum(len(e.model_dump_json()) for e in events) / max(1, len(events))
    return {"events": len(events), "batch": batch, "runs": runs, "wall_s": walls["raw"],
            "store_wall_s": walls["store"], "mean_event_bytes": round(mean_bytes)}


# ------------------------------------------------------------------ profile report


def hot_spots(profile: Path, top: int) -> list[str]:
    """The ``top`` functions by own time, as 'file:line(function) own_s/cum_s calls'."""
    import pstats

    stats = pstats.Stats(str(profile))
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
        rows.append((own, f"{short}:{line}({function}) own {own:.2f}s cum {cumulative:.2f}s calls {calls}"))
    rows.sort(key=lambda row: row[0], reverse=True)
    return [text for _, text in rows[:top]]


# ------------------------------------------------------------------ main


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)


def split_mib(runs: list[dict[str, Any]], key: str) -> Any:
    """P9: the median-min-max of one sampled RSS part over ``runs`` in MiB (None without /proc)."""
    values = [r[key] / 1024 for r in runs if r.get(key)]
    return spread(values, 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=10_000, help="cells of the P1/P2 run (default 10,000)")
    parser.add_argument("--runs", type=int, default=5, help="P1 pipeline runs (fresh process each)")
    parser.add_argument("--floor-runs", type=int, default=5, help="P2 floor runs")
    parser.add_argument("--floor-batch", type=int, default=1000, help="events per floor insert transaction")
    parser.add_argument("--sheet-cells", type=int, default=10_000, help="cells per submitted sheet")
    parser.add_argument("--memory-cells", type=int, default=100_000,
                        help="cells of the big P9 run, compared with --cells (0: skip P9)")
    parser.add_argument("--memory-runs", type=int, default=1, help="runs of the big P9 run")
    parser.add_argument("--memory-timeout", type=float, default=1800.0, help="seconds before a P9 run is abandoned")
    parser.add_argument("--profile", type=Path, default=None,
                        help="also run once under cProfile, write the stats here and list hot spots")
    parser.add_argument("--top", type=int, default=25, help="hot spots to list with --profile")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child_run(args.cells, args.sheet_cells, args.db, args.profile)))
        return

    out: dict[str, Any] = {"benchmark": "pipeline", "cells": args.cells, "sheet_cells": args.sheet_cells,
                           "machine": machine(), "notes": []}
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        workdir = Path(tmp)
        runs = []
        for run in range(args.runs):
            db_path = workdir / f"run{run}.db"
            runs.append(spawn(args.cells, args.sheet_cells, db_path))
            print(f"P1 run {run + 1}/{args.runs}: {runs[-1]['rows']} rows in {runs[-1]['wall_s']:.1f}s",
                  file=sys.stderr, flush=True)
            if run < args.runs - 1:
                db_path.unlink()
        last_db = workdir / f"run{args.runs - 1}.db"
        walls = [r["wall_s"] for r in runs]
        out["p1"] = {
            "rows": runs[-1]["rows"], "rows_by_type": runs[-1]["rows_by_type"], "checked": True,
            "wall_s": spread(walls, 2),
            "events_per_s": spread((r["rows"] / r["wall_s"] for r in runs), 0),
            "events_per_cpu_s": spread((r["rows"] / r["cpu_s"] for r in runs), 0),
            "target_events_per_s": 10_000,
        }

        floor = floor_runs(last_db, args.floor_runs, args.floor_batch, workdir)
        # Run i of the pipeline against run i of the floor (both lists are in time order).
        pairs = list(zip(walls, floor["wall_s"], strict=False))
        out["p2"] = {
            "events": floor["events"], "floor_batch": floor["batch"], "mean_event_bytes": floor["mean_event_bytes"],
            "pipeline_wall_s": spread(walls, 3), "floor_wall_s": spread(floor["wall_s"], 3),
            "floor_events_per_s": spread((floor["events"] / w for w in floor["wall_s"]), 0),
            "ratio": spread((p / f for p, f in pairs), 2),
            "ratio_of_medians": round(statistics.median(walls) / statistics.median(floor["wall_s"]), 2),
            "store_floor_wall_s": spread(floor["store_wall_s"], 3),
            "ratio_vs_store_floor": spread((p / f for p, f in zip(walls, floor["store_wall_s"], strict=False)), 2),
            "target_ratio": 4.0,
        }

        if args.memory_cells > 0:
            small_peaks = [r["peak_rss_kib"] / 1024 for r in runs]
            big_runs = []
            for run in range(args.memory_runs):
                db_path = workdir / f"big{run}.db"
                try:
                    big_runs.append(spawn(args.memory_cells, args.sheet_cells, db_path,
                                          timeout_s=args.memory_timeout))
                except subprocess.TimeoutExpired:
                    out["notes"].append(f"P9: the {args.memory_cells}-cell run did not finish within "
                                        f"{args.memory_timeout:.0f}s; rerun with a smaller --memory-cells")
                    break
                finally:
                    db_path.unlink(missing_ok=True)
                print(f"P9 run {run + 1}/{args.memory_runs}: {big_runs[-1]['rows']} rows in "
                      f"{big_runs[-1]['wall_s']:.1f}s", file=sys.stderr, flush=True)
            if big_runs:
                big_peaks = [r["peak_rss_kib"] / 1024 for r in big_runs]
                small, big = statistics.median(small_peaks), statistics.median(big_peaks)
                start = statistics.median(r["start_rss_kib"] / 1024 for r in runs)
                out["p9"] = {
                    "small_cells": args.cells, "big_cells": args.memory_cells, "big_sheets": big_runs[0]["sheets"],
                    "small_peak_rss_mib": spread(small_peaks, 1), "big_peak_rss_mib": spread(big_peaks, 1),
                    "start_rss_mib": round(start, 1), "big_rows": big_runs[0]["rows"], "checked": True,
                    # Anonymous (heap) and file-backed (mapped store file, libraries) peaks, sampled.
                    "small_peak_anon_mib": split_mib(runs, "peak_anon_kib"),
                    "big_peak_anon_mib": split_mib(big_runs, "peak_anon_kib"),
                    "small_peak_file_mib": split_mib(runs, "peak_file_kib"),
                    "big_peak_file_mib": split_mib(big_runs, "peak_file_kib"),
                    "big_wall_s": round(big_runs[0]["wall_s"], 1),
                    "big_events_per_s": round(big_runs[0]["rows"] / big_runs[0]["wall_s"]),
                    "ratio": spread([b / small for b in big_peaks], 3),
                    "growth_ratio_over_start": round((big - start) / max(1.0, small - start), 2),
                    "target_ratio": 1.2,
                }

        if args.profile is not None:
            spawn(args.cells, args.sheet_cells, workdir / "profiled.db", profile=args.profile)
            out["hot_spots"] = hot_spots(args.profile, args.top)
            for line in out["hot_spots"]:
                print(line, file=sys.stderr)
    if not out["notes"]:
        del out["notes"]
    emit(out)


if __name__ == "__main__":
    main()
