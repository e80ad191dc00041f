"""Submitting a sheet and running every stage on a bus: what ``beamline run``, the demo and
``replay --rerun`` share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from contracts.envelope import Envelope, utc_now
from contracts.payloads import SheetSubmitted
from contracts.registry import make_event


def new_run_id(source: str, seed: int, container_id: str, salt: str) -> str:
    """A run id: distinct per submission (salt), short enough to read in an EID."""
    material = f"{container_id}|{seed}|{salt}|{source}".encode()
    return "run-" + hashlib.blake2b(material, digest_size=6).hexdigest()


def submission(
    source: str,
    *,
    filename: str,
    flags: Mapping[str, Any],
    flags_digest: str,
    seed: int = 0,
    container_id: str = "default",
    run_id: str,
    basin_id: str | None = None,
    identity: str = "user",
) -> Envelope:
    """The SheetSubmitted event that starts a run: everything needed to re-execute it."""
    payload = SheetSubmitted(
        sheet_run_id=run_id, container_id=container_id, source=source, filename=filename,
        seed=seed, flags=dict(flags), basin_id=basin_id, identity=identity,
    )
    return make_event(payload, stage_id="submit", index=0, sheet_run_id=run_id, container_id=container_id,
                      occurred_at=utc_now(), flags_digest=flags_digest)


def enabled_stages() -> list[Any]:
    from stages.registry import STAGE_IDS, create_stage

    return [create_stage(stage_id) for stage_id in STAGE_IDS]


async def execute_embedded(
    initial: list[Envelope],
    *,
    store: Any,
    flags: Mapping[str, Any],
    progress: Callable[[Any], None] | None = None,
    bus_name: str = "memory",
    bus_options: Mapping[str, Any] | None = None,
    stages: list[Any] | None = None,
) -> Any:
    """Run every stage in this process on ``bus_name`` until the pipeline is quiescent."""
    from beamline.flags import digest
    from bus.base import create_bus
    from bus.pipeline import run_pipeline

    bus = create_bus(bus_name, **dict(bus_options or {}))
    try:
        return await run_pipeline(
            stages if stages is not None else enabled_stages(), initial, bus=bus, store=store, flags=flags, flags_digest=digest(flags),
            progress=progress,
        )
    finally:
        await bus.stop()
