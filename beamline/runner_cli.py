"""The work behind ``beamline run``: open the store, resolve flags, run, summarise."""

from __future__ import annotations

import asyncio
from typing import Any

from beamline.config import CONFIG
from beamline.summary import RunSummary, summarise


def run_sheet(
    source: str,
    *,
    filename: str,
    seed: int,
    container_id: str,
    run_id: str,
    show_progress: bool = True,
    extra_flags: dict[str, Any] | None = None,
) -> RunSummary:
    from beamline import flags as flag_config
    from beamline.commands_core import current_flags
    from beamline.pipeline import submission
    from beamline.storeutil import open_configured_store

    flags = {**current_flags(), **(extra_flags or {})}
    store = open_configured_store(CONFIG.store_url)
    try:
        basin_id = latest_basin_id(store, container_id)
        submitted = submission(
            source, filename=filename, flags=flags, flags_digest=flag_config.digest(flags), seed=seed,
            container_id=container_id, run_id=run_id, basin_id=basin_id,
        )
        asyncio.run(_execute(submitted, store, flags, show_progress))
        from beamline.basin_update import update_container_basin

        update_container_basin(store, container_id, run_id)
        return summarise(run_id, store.iter_events(sheet_run_id=run_id))
    finally:
        store.close()


def latest_basin_id(store: Any, container_id: str) -> str | None:
    """The id of the container's newest basin packet, which SQI measures drift against."""
    packets = store.events(container_id=container_id, types=["BasinSyncPacket"])
    if not packets:
        return None
    from basin.packets import packet_id
    from contracts.payloads import BasinSyncPacket

    return str(packet_id(BasinSyncPacket.model_validate(packets[-1].payload)))


async def _execute(submitted: Any, store: Any, flags: dict[str, Any], show_progress: bool) -> None:
    from beamline.pipeline import execute_embedded

    if not show_progress:
        await execute_embedded([submitted], store=store, flags=flags, bus_name=CONFIG.bus)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("running", total=None, detail="")

        def on_progress(snapshot: Any) -> None:
            done = sum(snapshot.processed.values())
            bar.update(task, detail=f"{done} handled · {snapshot.outputs} events · {snapshot.pending} pending")

        await execute_embedded([submitted], store=store, flags=flags, progress=on_progress, bus_name=CONFIG.bus)
