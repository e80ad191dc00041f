"""P8 — replay reads on a large store.

Fills a SQLite store with N synthetic but contract-valid pipeline events
(``store.sample_runs``: every stage, EIDs, SPE generations) in batches, then
times ``ghost_replay_for_eid(eid, last=100)`` and ``get_lineage_for_cell`` on
random EIDs and cells, ``--rounds`` rounds (figures: p50/p99 per round, median
and min–max over rounds). Before timing, ``--check`` EIDs and cells are answered and
compared with plain sqlite3 queries (ghost replay: the exact events; lineage: the
cell's own events, in seq order, in the run). Prints one JSON object.

    .venv/bin/python scripts/bench/bench_replay.py                 # 1,000,000 events
    .venv/bin/python scripts/bench/bench_replay.py --events 100000 --queries 300
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sized
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from benchlib import check, emit, machine, spread  # noqa: E402

from contracts.envelope import Envelope  # noqa: E402
from store.beam_store import BeamStore, open_store  # noqa: E402
from store.sample_runs import eid_for, sample_runs  # noqa: E402


def percentile(samples_ms: list[float], q: float) -> float:
    ordered = sorted(samples_ms)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(samples_ms, 50),
        "p99_ms": percentile(samples_ms, 99),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
        "max_ms": round(max(samples_ms), 3),
    }


def timed(call: Callable[[], Sized], calls: int, rounds: int) -> dict[str, object]:
    """``rounds`` rounds of ``calls`` calls: each round's wall and CPU-time p50/p99 (CPU time shows
    the cost without the scheduling noise of a shared machine), spread over the rounds, and the
    mean number of events returned."""
    per_round: list[dict[str, float]] = []
    sizes: list[int] = []
    for _ in range(rounds):
        wall_ms: list[float] = []
        cpu_ms: list[float] = []
        for _ in range(calls):
            wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
            result = call()
            cpu_ms.append((time.thread_time_ns() - cpu) / 1e6)
            wall_ms.append((time.perf_counter_ns() - wall) / 1e6)
            sizes.append(len(result))
        per_round.append({**summary(wall_ms), "cpu_p50_ms": percentile(cpu_ms, 50),
                          "cpu_p99_ms": percentile(cpu_ms, 99)})
    return {"calls_per_round": calls, "mean_events": round(statistics.fmean(sizes), 1),
            **{key: spread((r[key] for r in per_round), 3) for key in per_round[0]}}


def expected_ghost(connection: sqlite3.Connection, eid: str, last: int) -> list[str]:
    """The last ``last`` events of each cell under ``eid`` (EID-level events as one group), in seq
    order — computed from every event of the EID with plain sqlite3, not with the store's queries."""
    groups: dict[str | None, list[tuple[int, str]]] = {}
    for seq, event_id, cell in connection.execute(
            "SELECT seq, event_id, cell_id FROM events WHERE eid = ? ORDER BY seq", (eid,)):
        groups.setdefault(cell, []).append((seq, event_id))
    chosen = sorted(row for rows in groups.values() for row in rows[-last:] if last)
    return [event_id for _, event_id in chosen]


def check_answers(store: BeamStore, db_path: Path, eids: list[str], cells: list[tuple[str, str]],
                  last: int) -> int:
    """Ghost replays equal the independent answer; a lineage holds every event of the cell in that
    run, in seq order, without duplicates, and only causation ancestors besides. Returns checks made."""
    connection = sqlite3.connect(db_path)
    made = 0
    for eid in eids:
        got = [e.event_id for e in store.ghost_replay_for_eid(eid, last=last).events]
        want = expected_ghost(connection, eid, last)
        check(want, f"no events under {eid}: the sample picks EIDs that do not exist")
        check(got == want, f"ghost_replay_for_eid({eid}, last={last}): {len(got)} events, expected {len(want)}")
        made += 1
    for cell, run in cells:
        lineage = store.get_lineage_for_cell(cell, sheet_run_id=run)
        ids = [e.event_id for e in lineage]
        own = {r[0] for r in connection.execute(
            "SELECT event_id FROM events WHERE cell_id = ? AND sheet_run_id = ?", (cell, run))}
        check(own, f"no events of {cell} in {run}: the sample picks cells that do not exist")
        check(own.issubset(ids), f"lineage of {cell} in {run} misses {len(own - set(ids))} of its events")
        check(len(ids) == len(set(ids)), f"lineage of {cell} in {run} repeats events")
        seqs = {r[0]: r[1] for r in connection.execute(
            f"SELECT event_id, seq FROM events WHERE event_id IN ({','.join('?' * len(ids))})", ids)}
        check([seqs[i] for i in ids] == sorted(seqs[i] for i in ids), f"lineage of {cell} is not in seq order")
        check(all(e.sheet_run_id == run for e in lineage), f"lineage of {cell} in {run} crosses runs")
        made += 1
    connection.close()
    return made


def fill_store(store: BeamStore, args: argparse.Namespace) -> dict[str, object]:
    """Persist whole sample runs in batches of about ``--batch`` events; returns fill figures."""
    stored = 0
    pending: list[Envelope] = []
    fill_started = time.perf_counter()
    persist_s = 0.0
    for run in sample_runs(args.events, cells=args.cells, generations=args.generations):
        pending.extend(run)
        if len(pending) >= args.batch:
            started = time.perf_counter()
            stored += store.persist_beam_events(pending)
            persist_s += time.perf_counter() - started
            pending = []
    if pending:
        started = time.perf_counter()
        stored += store.persist_beam_events(pending)
        persist_s += time.perf_counter() - started
    fill_s = time.perf_counter() - fill_started
    with store.connect() as connection:  # fresh planner statistics, as a long-running store would have
        connection.execute(sqlalchemy.text("ANALYZE"))
        connection.commit()
    return {"seconds": round(fill_s, 2), "events_per_s": round(stored / fill_s), "stored": stored,
            "persist_seconds": round(persist_s, 2),
            "persist_events_per_s": round(stored / persist_s) if persist_s else None, "batch": args.batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to store (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=5000, help="events per persist transaction")
    parser.add_argument("--queries", type=int, default=500, help="timed calls per query kind and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --queries calls (figures: over rounds)")
    parser.add_argument("--check", type=int, default=50, help="EIDs and cells whose answers are checked")
    parser.add_argument("--last", type=int, default=100, help="ghost replay window")
    parser.add_argument("--cells", type=int, default=4, help="cells per sheet run (entangled in pairs)")
    parser.add_argument("--generations", type=int, default=2, help="SPE generations per cell")
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to fill and keep (default: a temporary file); one already holding "
                             "--events events is reused without refilling, a partial one is refilled")
    parser.add_argument("--store", default=None,
                        help="another store URL instead (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    workdir = tempfile.TemporaryDirectory(prefix="bench_replay_")
    db_path = args.db or Path(workdir.name) / "replay.db"
    url = args.store or f"sqlite:///{db_path}"
    if args.store is None and db_path.exists():
        with sqlite3.connect(db_path) as connection:
            held = connection.execute("SELECT count(*) FROM events").fetchone()[0]
        if held < args.events:  # an interrupted fill: start again rather than append to it
            db_path.unlink()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = open_store(url, migrate=True)

    reuse = store.max_seq() >= args.events
    fill = fill_store(store, args) if not reuse else {"reused": True}
    runs = [e.sheet_run_id for e in store.events(types=["SheetSubmitted"])]

    rng = random.Random(args.seed)
    cell_names = [f"c{i}" for i in range(args.cells)]
    all_cells = [f"{c}.g{g}" if g else c for c in cell_names for g in range(args.generations + 1)]

    def random_eid() -> str:
        pair = rng.randrange(0, args.cells, 2)
        return eid_for(rng.choice(runs), cell_names[pair:pair + 2])

    for _ in range(50):  # warm the page cache and the statement cache
        store.ghost_replay_for_eid(random_eid(), last=args.last)

    checks = 0
    if args.store is None:
        checks = check_answers(store, db_path, [random_eid() for _ in range(args.check)],
                               [(rng.choice(all_cells), rng.choice(runs)) for _ in range(args.check)], args.last)
    ghost = timed(lambda: store.ghost_replay_for_eid(random_eid(), last=args.last).events, args.queries, args.rounds)
    lineage = timed(
        lambda: store.get_lineage_for_cell(rng.choice(all_cells), sheet_run_id=rng.choice(runs)), args.queries,
        args.rounds,
    )
    # The CLI form: no run given, so the cell's latest run is looked up first.
    latest = timed(lambda: store.get_lineage_for_cell(rng.choice(all_cells)), args.queries, args.rounds)

    report = {
        "benchmark": "P8 replay",
        "machine": {**machine(), "sqlite": sqlite3.sqlite_version, "sqlalchemy": sqlalchemy.__version__},
        "checked": checks > 0, "answers_checked": checks,
        "store": {"url": url, "events": store.max_seq(), "runs": len(runs),
                  "file_mb": round(db_path.stat().st_size / 2**20, 1) if db_path.exists() else None},
        "fill": fill,
        "ghost_replay_for_eid": {"last": args.last, **ghost},
        "get_lineage_for_cell": lineage,
        "get_lineage_for_cell_latest_run": latest,
        "targets_ms": {"ghost_replay_p99": 5, "lineage_p99": 10},
    }
    store.close()
    workdir.cleanup()
    emit(report)


if __name__ == "__main__":
    main()
