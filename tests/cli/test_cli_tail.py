"""``beamline tail --eid E --json`` shows exactly the events of E while a run is in progress:
``beamline run`` and ``beamline tail --follow`` as two processes on one SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from stages.codex.eids import eid_for
from store.beam_store import open_store

CLI = str(Path(sys.executable).with_name("beamline"))
SHEET = """\
sheet cli_tail
grid 32x32 spacing 0.03125 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.1)
cell heat   : u + 0.0001 * Δu      goal: energy < energy(u)
cell lap    : Δu
cell flux   : ∇u ⊗ ∇u
cell fringe : interfere(plane_wave(k=(4, 0)), plane_wave(k=(0, 4)))
heat ↔ lap
"""
RUN_ID = "run-cli-tail"


def tailed_ids(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [orjson.loads(line)["event"]["event_id"] for line in lines if line.strip()]


def test_tail_eid_json_follows_exactly_that_eids_events_during_a_run(tmp_path: Path) -> None:
    (tmp_path / "sheet.codex").write_text(SHEET, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    open_store(url, migrate=True).close()  # one process creates the store; both then open it
    eid = eid_for(RUN_ID, ["heat", "lap"])  # EIDs are deterministic: known before the run starts
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "tail.jsonl"
    with out.open("wb") as sink, (tmp_path / "tail.err").open("wb") as err:
        tail = subprocess.Popen([CLI, "--store", url, "tail", "--eid", eid, "--json", "--from-beginning", "--follow"],
                                stdout=sink, stderr=err, cwd=tmp_path, env=env)
    try:
        run = subprocess.run([CLI, "--store", url, "run", "sheet.codex", "--run-id", RUN_ID, "--json"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
        assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
        during_run = tailed_ids(out)
        assert tail.poll() is None, "tail --follow must keep following after the run"
        with open_store(url) as store:
            expected = [e.event_id for e in store.events(eid=eid)]
            others = [e for e in store.events(sheet_run_id=RUN_ID) if e.eid != eid]
        deadline = time.monotonic() + 30
        while tailed_ids(out) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        tail.send_signal(signal.SIGINT)  # Ctrl-C
        code = tail.wait(timeout=30)
    assert code == 0, (tmp_path / "tail.err").read_text()
    assert during_run, "nothing was tailed while the run was in progress"
    shown = tailed_ids(out)
    assert shown == expected, f"tailed {len(shown)} events, E has {len(expected)}"
    assert len(expected) > 10 and len(set(shown)) == len(shown)
    assert any(e.eid is not None for e in others), "the run had other EIDs, which tail left out"
    assert {orjson.loads(line)["event"]["eid"] for line in out.read_text().splitlines()} == {eid}
