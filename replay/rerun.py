"""Re-run one EID from its recorded SheetSubmitted on a scratch bus and store, then diff.

The scratch store is first given the container's history recorded before the run
(basin packets, earlier motifs, runtime flag changes), so stages that consult
history see exactly the state the recorded run saw; the re-run then uses the
recorded seed and flags. Event ids are deterministic, so recorded and re-produced
events pair up by id.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from replay.diff import RerunReport, diff_events


class ReplayError(ValueError):
    """The EID cannot be re-run (unknown, or its run was not recorded)."""


def recorded_run(store: Any, eid: str) -> tuple[list[Envelope], Envelope]:
    recorded = [env for env in store.events(eid=eid)]
    if not recorded:
        raise ReplayError(f"no events recorded for EID {eid!r}")
    run_id = recorded[0].sheet_run_id
    submitted = store.events(sheet_run_id=run_id, types=["SheetSubmitted"])
    if not submitted:
        raise ReplayError(f"the SheetSubmitted of run {run_id!r} is not in the store")
    return recorded, submitted[0]


def history_before(store: Any, submitted: Envelope) -> list[Envelope]:
    """Events of the same container recorded before this run started (other runs only)."""
    earlier: list[Envelope] = []
    for env in store.events(container_id=submitted.container_id):
        if env.event_id == submitted.event_id:
            break
        if env.sheet_run_id != submitted.sheet_run_id:
            earlier.append(env)
    return earlier


async def rerun_eid(store: Any, eid: str) -> RerunReport:
    from beamline.pipeline import execute_embedded
    from store.beam_store import open_store

    recorded, submitted = recorded_run(store, eid)
    flags: dict[str, Any] = dict(submitted.payload.get("flags") or {})
    with tempfile.TemporaryDirectory(prefix="beamline-rerun-") as scratch_dir:
        scratch = open_store(f"sqlite:///{Path(scratch_dir) / 'scratch.db'}", migrate=True)
        try:
            scratch.persist_beam_events(history_before(store, submitted))
            await execute_embedded([submitted], store=scratch, flags=flags)
            produced = [env for env in scratch.events(eid=eid) if env.sheet_run_id == submitted.sheet_run_id]
        finally:
            scratch.close()
    return diff_events(eid, recorded, produced)
