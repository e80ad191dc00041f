"""Re-run one EID from its recorded SheetSubmitted on a scratch bus and store, then diff.

The scratch store is first given the container's history recorded before the run
(basin packets, earlier motifs, runtime flag changes) and the run's recorded events
of *other* EIDs, so stages that consult history (SQI's basin, SPE's motifs) see
exactly the state the recorded run saw. Only the EID's own cells are re-executed
(Codex's outputs for other EIDs are dropped), with the recorded seed and flags.
Event ids are deterministic, so recorded and re-produced events pair up by id.

A run during which a flag changed live (a ``FlagChanged`` on ``beamline.control``)
cannot be reproduced from its SheetSubmitted: which message each worker handled
before or after the change is a timing fact the record does not pin down. Such an
EID is refused with one line naming the changes, never reported "identical".
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


def flags_changed_mid_run(store: Any, recorded: list[Envelope], submitted: Envelope) -> str | None:
    """Why the EID's events were not all produced under the submission's flags, or None.

    Every event carries the digest of the flags in force where it was produced; one that
    differs from the SheetSubmitted's means the flags changed after submission.
    """
    run_id = submitted.sheet_run_id
    foreign = sorted({env.flags_digest for env in recorded if env.sheet_run_id == run_id
                      and env.flags_digest and env.flags_digest != submitted.flags_digest})
    if not foreign:
        return None
    ((submitted_seq, _),) = store.events_with_seq(event_ids=[submitted.event_id])
    last_seq = max(seq for seq, _ in store.events_with_seq(eid=recorded[0].eid))
    changes = [f"{env.payload['name']} {_show(env.payload.get('previous'))} -> {_show(env.payload['value'])}"
               for seq, env in store.events_with_seq(submitted_seq, types=["FlagChanged"]) if seq <= last_seq]
    what = ", ".join(changes) if changes else "no FlagChanged recorded (a worker ran with other flags)"
    return (f"flags changed during run {run_id!r}: {what}; events carry flags digest {', '.join(foreign)} "
            f"besides the submission's {submitted.flags_digest}, so a re-run cannot reproduce them")


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def history_before(store: Any, submitted: Envelope) -> list[Envelope]:
    """Events of the same container recorded before this run started (other runs only)."""
    earlier: list[Envelope] = []
    for env in store.events(container_id=submitted.container_id):
        if env.event_id == submitted.event_id:
            break
        if env.sheet_run_id != submitted.sheet_run_id:
            earlier.append(env)
    return earlier


class FocusedStage:
    """A stage whose outputs are limited to one EID (plus run-level events such as StageError)."""

    def __init__(self, inner: Any, eid: str) -> None:
        self.inner = inner
        self.eid = eid
        self.stage_id = inner.stage_id
        self.input_topics = inner.input_topics
        self.handles_disabled = bool(getattr(inner, "handles_disabled", False))

    async def handle(self, envelope: Envelope, ctx: Any) -> list[Envelope]:
        outputs: list[Envelope] = await self.inner.handle(envelope, ctx)
        return [env for env in outputs if env.eid in (self.eid, None)]


def other_eids_of_run(store: Any, submitted: Envelope, eid: str) -> list[Envelope]:
    return [env for env in store.events(sheet_run_id=submitted.sheet_run_id)
            if env.eid is not None and env.eid != eid]


async def rerun_eid(store: Any, eid: str) -> RerunReport:
    from beamline.pipeline import enabled_stages, execute_embedded
    from store.beam_store import open_store

    recorded, submitted = recorded_run(store, eid)
    changed = flags_changed_mid_run(store, recorded, submitted)
    if changed is not None:
        raise ReplayError(changed)
    flags: dict[str, Any] = dict(submitted.payload.get("flags") or {})
    stages = [FocusedStage(s, eid) if s.stage_id == "codex" else s for s in enabled_stages()]
    with tempfile.TemporaryDirectory(prefix="beamline-rerun-") as scratch_dir:
        scratch = open_store(f"sqlite:///{Path(scratch_dir) / 'scratch.db'}", migrate=True)
        try:
            scratch.persist_beam_events(history_before(store, submitted) + other_eids_of_run(store, submitted, eid))
            await execute_embedded([submitted], store=scratch, flags=flags, stages=stages)
            produced = [env for env in scratch.events(eid=eid) if env.sheet_run_id == submitted.sheet_run_id]
        finally:
            scratch.close()
    return diff_events(eid, recorded, produced)
