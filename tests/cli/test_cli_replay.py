"""``beamline replay EID`` (table, --json, --last N), ``beamline lineage CELL`` and ``replay --rerun``
catching a tampered record, driven as a user drives them on a store written by ``beamline run``."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from contracts.envelope import Envelope
from store.beam_store import open_store

CLI = str(Path(sys.executable).with_name("beamline"))

# Small and quick, yet every kind of history: an entangled pair, a cell SoulLaw vetoes for a
# CFL-unstable evolve (dt·4/h² ≈ 8) and SPE's repair of it in generation 1 (SPE_AUTO_FUSE on).
SHEET = """\
sheet cli_replay
grid 32x32 spacing 0.03125 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.1)
cell heat   : u + 0.0001 * Δu      goal: energy < energy(u)
cell lap    : Δu
cell blowup : ⟲40 u ← u + 0.002 * Δu
heat ↔ lap
"""
RUN_ID = "run-cli-replay"


def beamline(*args: str, cwd: Path, store: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}  # a wide table: Rich would fold columns at 80
    return subprocess.run([CLI, "--store", store, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=env)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A store holding one run of SHEET (the run is the slow part: done once for the module)."""
    where = tmp_path_factory.mktemp("replay")
    (where / "sheet.codex").write_text(SHEET, encoding="utf-8")
    store = f"sqlite:///{where / 'b.db'}"
    done = beamline("--flag", "SPE_AUTO_FUSE=true", "run", "sheet.codex", "--seed", "3", "--run-id", RUN_ID,
                    "--json", cwd=where, store=store)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    yield where, store


def stored(store: str, **query: str) -> list[Envelope]:
    with open_store(store) as opened:
        return opened.events(**query)  # type: ignore[arg-type]


def eid_of(store: str, cell: str) -> str:
    (ingest,) = [e for e in stored(store, sheet_run_id=RUN_ID, cell_id=cell)
                 if e.type == "BeamEvent" and e.payload["stage"] == "ingest"]
    assert ingest.eid
    return ingest.eid


def json_lines(out: str) -> list[dict]:
    return [orjson.loads(line) for line in out.splitlines() if line.strip()]


def test_replay_json_lists_every_event_of_the_eid_in_order(recorded: tuple[Path, str]) -> None:
    where, store = recorded
    eid = eid_of(store, "heat")
    assert eid == eid_of(store, "lap"), "heat ↔ lap share one EID"
    done = beamline("replay", eid, "--json", cwd=where, store=store)
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert [r["event_id"] for r in rows] == [e.event_id for e in stored(store, eid=eid)]
    assert {r["cell"] for r in rows} >= {"heat", "lap"}
    scores = [r for r in rows if r["type"] == "SQIScore"]
    assert {r["cell"] for r in scores} >= {"heat", "lap"} and all("qscore" in r["fields"] for r in scores)


def test_replay_table_shows_members_and_each_stage(recorded: tuple[Path, str]) -> None:
    where, store = recorded
    eid = eid_of(store, "heat")
    done = beamline("replay", eid, cwd=where, store=store)
    assert done.returncode == 0, done.stderr
    assert f"{eid}  members: heat, lap" in done.stdout
    lines = done.stdout.splitlines()
    for stage, cell, kind in (("ingest", "heat", "BeamEvent"), ("ingest", "lap", "BeamEvent"),
                              ("sqi", "heat", "SQIScore"), ("approved", "lap", "BeamEvent")):
        assert any(f"│ {stage} " in line and f"│ {cell} " in line and kind in line for line in lines), \
            f"no {stage}/{cell}/{kind} row:\n{done.stdout}"


def test_replay_last_n_keeps_the_last_n_events_of_each_cell(recorded: tuple[Path, str]) -> None:
    where, store = recorded
    eid = eid_of(store, "heat")
    every = stored(store, eid=eid)
    for n in (1, 2):
        done = beamline("replay", eid, "--last", str(n), "--json", cwd=where, store=store)
        assert done.returncode == 0, done.stderr
        by_cell: dict[str | None, list[str]] = {}
        for env in every:
            by_cell.setdefault(env.cell_id, []).append(env.event_id)
        kept = {event_id for ids in by_cell.values() for event_id in ids[-n:]}
        expected = [e.event_id for e in every if e.event_id in kept]  # still in recorded order
        assert [r["event_id"] for r in json_lines(done.stdout)] == expected
        assert len(expected) < len(every)


def test_lineage_follows_causation_across_spe_generations(recorded: tuple[Path, str]) -> None:
    where, store = recorded
    done = beamline("lineage", "blowup.g1", "--json", cwd=where, store=store)
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert rows[0]["type"] == "SheetSubmitted", "oldest first: the chain starts at the submission"
    cells = [r["cell"] for r in rows]
    assert "blowup" in cells and "blowup.g1" in cells
    assert cells.index("blowup") < cells.index("blowup.g1"), "the vetoed parent comes before its repair"
    assert any(r["type"] == "DNAMutation" for r in rows)
    assert ("vetoed", "blowup") in [(r["stage"], r["cell"]) for r in rows], "the veto SPE repaired is an ancestor"
    # every event's cause is in the chain before it
    by_id = {e.event_id: e for e in stored(store, sheet_run_id=RUN_ID)}
    seen: set[str] = set()
    for row in rows:
        cause = by_id[row["event_id"]].causation_id
        assert cause is None or cause in seen, f"{row['type']} {row['cell']}: cause {cause} not earlier"
        seen.add(row["event_id"])
    table = beamline("lineage", "blowup.g1", cwd=where, store=store)
    assert table.returncode == 0 and "lineage of blowup.g1" in table.stdout


def test_unknown_eid_and_cell_are_one_line_errors(recorded: tuple[Path, str]) -> None:
    where, store = recorded
    for args, message in ((("replay", "eid::nope"), "no events recorded for EID 'eid::nope'"),
                          (("lineage", "nope"), "no events recorded for cell 'nope'")):
        done = beamline(*args, cwd=where, store=store)
        assert done.returncode == 1
        assert done.stderr.strip() == f"error: {message}"


def test_rerun_is_identical_then_catches_a_tampered_qscore(recorded: tuple[Path, str], tmp_path: Path) -> None:
    where, original = recorded
    eid = eid_of(original, "heat")
    clean = beamline("replay", eid, "--rerun", cwd=where, store=original)
    assert clean.returncode == 0, clean.stdout[-1500:] + clean.stderr[-1500:]
    assert clean.stdout.startswith("identical: ")

    (score,) = [e for e in stored(original, eid=eid, cell_id="lap") if e.type == "SQIScore"]

    def lower_qscore(payload: dict[str, Any]) -> None:
        payload["qscore"] = round(float(payload["qscore"]) - 0.25, 6)

    store = tampered(where, tmp_path, score.event_id, lower_qscore)
    rerun = beamline("replay", eid, "--rerun", cwd=tmp_path, store=store)
    assert rerun.returncode == 1, rerun.stdout
    lines = rerun.stdout.strip().splitlines()
    assert f"changed: SQIScore lap {score.event_id} .payload.qscore" in lines
    assert lines[-1].startswith("different: 1 of ")


def tampered(where: Path, tmp_path: Path, event_id: str, edit: Callable[[dict[str, Any]], None]) -> str:
    """A copy of the recorded store with one event's payload edited in place (as a bad actor would)."""
    db = tmp_path / f"tampered-{event_id[:8]}.db"
    shutil.copy(where / "b.db", db)  # the run's process has exited: the WAL is checkpointed into b.db
    with sqlite3.connect(db) as connection:
        (payload,) = connection.execute("SELECT payload FROM events WHERE event_id = ?", (event_id,)).fetchone()
        data = orjson.loads(payload)
        edit(data)
        changed = connection.execute("UPDATE events SET payload = ? WHERE event_id = ?",
                                     (orjson.dumps(data).decode(), event_id)).rowcount
    assert changed == 1
    return f"sqlite:///{db}"


def test_rerun_ignores_precision_timings_but_not_rel_error(recorded: tuple[Path, str], tmp_path: Path) -> None:
    where, original = recorded
    eid = eid_of(original, "blowup")
    profile = next(e for e in stored(original, eid=eid, cell_id="blowup") if e.type == "PrecisionProfile")

    def slower(payload: dict[str, Any]) -> None:  # a timing is wall-clock: another machine, another value
        for result in payload["results"]:
            result["time_s"] = result["time_s"] * 3 + 1.0

    timing = beamline("replay", eid, "--rerun", cwd=tmp_path, store=tampered(where, tmp_path, profile.event_id, slower))
    assert timing.returncode == 0, timing.stdout[-1500:] + timing.stderr[-1500:]
    assert timing.stdout.startswith("identical: ")

    def less_error(payload: dict[str, Any]) -> None:  # an accuracy is an outcome: it must be reproduced
        payload["results"][1]["rel_error"] = payload["results"][1]["rel_error"] / 2

    error = beamline("replay", eid, "--rerun", cwd=tmp_path,
                     store=tampered(where, tmp_path, profile.event_id, less_error))
    assert error.returncode == 1, error.stdout
    assert (f"changed: PrecisionProfile blowup {profile.event_id} .payload.results[1].rel_error"
            in error.stdout.splitlines())
