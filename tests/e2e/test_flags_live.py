"""Flags changed at runtime (issue 10 item 4).

* Over Kafka, ``beamline flags set SPE_AUTO_FUSE=true`` while one worker process per stage
  keeps running changes what those workers do from the next sheet on: the change travels as a
  FlagChanged on ``beamline.control`` and is recorded in the store. Both sheets are submitted
  with the same flags (AUTO_FUSE off), so only the live change can explain the fused cells.
* ``replay EID --rerun`` of a run whose events were produced under flags other than its
  SheetSubmitted's refuses with one line naming the change, instead of claiming "identical".
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from beamline import flags as flag_config
from beamline.distributed import (
    await_completion,
    stage_groups,
    start_workers,
    stop_workers,
    wait_ready,
)
from beamline.pipeline import enabled_stages, execute_embedded, submission
from beamline.runtime_flags import flag_changed_event
from contracts.envelope import Envelope
from store.beam_store import open_store

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from beamline.cli import main; main()"]

# SoulLaw vetoes the CFL-unstable evolve (dt·4/h² ≈ 8); SPE repairs it as ``blowup.g1``, which
# re-enters the pipeline as an ingest beam only when SPE_AUTO_FUSE is on where SPE runs.
SHEET = """\
sheet flags_live
grid 32x32 spacing 0.03125 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.1)
cell lap    : Δu
cell blowup : ⟲40 u ← u + 0.002 * Δu
"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # S603: this interpreter running our own CLI
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,  # noqa: S603
                          env=env or dict(os.environ))


def ingested(events: list[Envelope]) -> set[str]:
    return {str(e.cell_id) for e in events if e.type == "BeamEvent" and e.payload.get("stage") == "ingest"}


def vetoed(events: list[Envelope]) -> set[str]:
    return {str(e.cell_id) for e in events if e.type == "BeamEvent" and e.payload.get("stage") == "vetoed"}


async def submit_and_wait(bootstrap: str, store: Any, submitted: Envelope, workers: list[Any]) -> None:
    """What ``run_sheet_distributed`` does between starting and stopping its workers."""
    from bus.kafka import KafkaBus
    from bus.publish import records_of
    from bus.runner import persist_events

    bus = KafkaBus(bootstrap=bootstrap, provision=())
    await bus.start()
    try:
        await persist_events(store, [submitted])
        await bus.publish_many(records_of([submitted]))
        await await_completion(bus, stage_groups(), store, submitted.sheet_run_id, workers=workers,
                               expect_decisions=True, timeout_s=120)
    finally:
        await bus.stop()


def wait_for_line(worker: Any, text: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in worker.output(100_000):
        assert worker.process.poll() is None, worker.output()
        assert time.monotonic() < deadline, f"worker {worker.stage_id} never logged {text!r}:\n{worker.output()}"
        time.sleep(0.2)


@pytest.mark.kafka
@pytest.mark.slow
def test_flags_set_over_kafka_changes_running_workers_without_restart(tmp_path: Path, mock_broker: str) -> None:
    store_url = f"sqlite:///{tmp_path / 'live.db'}"
    env = {**os.environ, "KAFKA_BOOTSTRAP": mock_broker}
    off = ["--flag", "SPE_AUTO_FUSE=false"]
    # the flags exactly as the workers will resolve them (same cwd, environment, flags.toml)
    listed = cli("--store", store_url, *off, "flags", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    in_force = orjson.loads(listed.stdout)
    flags, digest = in_force["flags"], in_force["digest"]
    assert flags["SPE_AUTO_FUSE"] is False

    store = open_store(store_url, migrate=True)
    workers = start_workers([s for s, _, _ in stage_groups()], bootstrap=mock_broker, store_url=store_url,
                            flag_args=off, log_dir=tmp_path)
    try:
        asyncio.run(wait_ready(workers, 60))
        pids = {w.stage_id: w.process.pid for w in workers}

        def run(run_id: str, container: str) -> list[Envelope]:
            # the same submission flags for both sheets; a fresh container each so SPE's
            # container-wide dedup by normal form cannot suppress the second sheet's repair
            submitted = submission(SHEET, filename="live.codex", flags=flags, flags_digest=digest, seed=5,
                                   container_id=container, run_id=run_id)
            asyncio.run(submit_and_wait(mock_broker, store, submitted, workers))
            return store.events(sheet_run_id=run_id)

        before = run("live-before", "live-a")
        assert "blowup" in vetoed(before)
        assert any(e.type == "DNAMutation" and e.payload["mutated"]["cell_id"] == "blowup.g1" for e in before), (
            "SPE proposed no repair: the sheet does not exercise SPE_AUTO_FUSE")
        assert "blowup.g1" not in ingested(before)

        changed = cli("--bus", "kafka", "--store", store_url, "flags", "set", "SPE_AUTO_FUSE=true", env=env)
        assert changed.returncode == 0, changed.stderr
        assert "SPE_AUTO_FUSE = true (was false)" in changed.stdout
        spe = next(w for w in workers if w.stage_id == "spe")
        wait_for_line(spe, "flag SPE_AUTO_FUSE = True applied")

        after = run("live-after", "live-b")
        assert "blowup.g1" in ingested(after), "the running SPE worker did not pick up SPE_AUTO_FUSE=true"
        (sheet,) = [e for e in after if e.type == "SheetSubmitted"]
        assert sheet.payload["flags"]["SPE_AUTO_FUSE"] is False and sheet.flags_digest == digest
        # SPE's outputs carry the digest of the flags it now holds, not the submission's
        live_digest = flag_config.digest({**flags, "SPE_AUTO_FUSE": True})
        assert {e.flags_digest for e in after if e.producer.stage == "spe"} == {live_digest}
        # the same processes did both sheets
        assert all(w.process.poll() is None for w in workers)
        assert {w.stage_id: w.process.pid for w in workers} == pids
    finally:
        problems = stop_workers(workers)
        store.close()
    assert not problems, problems
    with open_store(store_url) as reopened:
        (flag_event,) = reopened.events(types=["FlagChanged"])
    assert (flag_event.payload["name"], flag_event.payload["value"], flag_event.payload["previous"]) == (
        "SPE_AUTO_FUSE", True, False)


def run_embedded(store: Any, run_id: str, submitted_flags: dict[str, Any], live_flags: dict[str, Any],
                 *, change_mid_run: bool) -> str:
    """A run whose stages hold ``live_flags`` while its SheetSubmitted records ``submitted_flags``;
    returns the EID of ``blowup``."""
    submitted = submission(SHEET, filename="replay.codex", flags=submitted_flags,
                           flags_digest=flag_config.digest(submitted_flags), seed=3, run_id=run_id,
                           container_id=run_id)  # its own container: SPE dedups repairs container-wide
    store.persist_beam_events([submitted])
    if change_mid_run:  # recorded after the submission, as `flags set` during the run records it
        store.persist_beam_events([flag_changed_event("SPE_AUTO_FUSE", True, False)])
    asyncio.run(execute_embedded([submitted], store=store, flags=live_flags, stages=enabled_stages()))
    (ingest,) = [e for e in store.events(sheet_run_id=run_id, cell_id="blowup")
                 if e.type == "BeamEvent" and e.payload["stage"] == "ingest"]
    assert ingest.eid
    return ingest.eid


def test_rerun_of_a_run_whose_flags_changed_mid_run_names_the_change_and_fails(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'replay.db'}"
    base = {**flag_config.resolve(flags_file=ROOT / "flags.toml", environ={}), "SPE_AUTO_FUSE": False}
    fused = {**base, "SPE_AUTO_FUSE": True}
    with open_store(store_url, migrate=True) as store:
        steady = run_embedded(store, "run-steady", fused, fused, change_mid_run=False)
        changed = run_embedded(store, "run-changed", base, fused, change_mid_run=True)
        assert "blowup.g1" in ingested(store.events(sheet_run_id="run-changed"))

    # control: flags constant through the run, the re-run reproduces it
    done = cli("--store", store_url, "replay", steady, "--rerun")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("identical:")

    done = cli("--store", store_url, "replay", changed, "--rerun")
    assert done.returncode == 1
    assert "identical" not in done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: flags changed during run 'run-changed': SPE_AUTO_FUSE false -> true")
    assert flag_config.digest(fused) in line and flag_config.digest(base) in line
