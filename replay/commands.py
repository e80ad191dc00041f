"""``beamline replay EID [--last N] [--rerun] [--json]`` and ``beamline lineage CELL``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from beamline.config import CONFIG


def _print_timeline(title: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    from replay.timeline import short

    if as_json:
        import orjson

        for row in rows:
            typer.echo(orjson.dumps(row).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("time", "stage", "cell", "type", "key fields"):
        table.add_column(column)
    for row in rows:
        fields = "  ".join(f"{k}={short(v, 40)}" for k, v in row["fields"].items())
        table.add_row(row["time"][11:23], row["stage"], row["cell"] or "", row["type"], fields)
    Console().print(table)


def replay(
    eid: str,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N events of each cell.")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Re-execute and diff against the record.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Show everything that happened to one entanglement id; --rerun re-executes it and diffs."""
    from beamline.storeutil import open_configured_store
    from replay.timeline import timeline_rows

    store = open_configured_store(CONFIG.store_url, create_if_fresh=False)
    try:
        if rerun:
            import asyncio

            from replay.rerun import rerun_eid

            report = asyncio.run(rerun_eid(store, eid))
            if report.identical:
                typer.echo(f"identical: {report.compared} events")
                return
            for diff in report.diffs:
                where = ", ".join(diff.paths[:8])
                typer.echo(f"{diff.problem}: {diff.type} {diff.cell_id} {diff.event_id} {where}")
            typer.echo(f"different: {len(report.diffs)} of {report.compared} events")
            raise typer.Exit(1)
        ghost = store.ghost_replay_for_eid(eid, last=last)
        if not ghost.events:
            raise ValueError(f"no events recorded for EID {eid!r}")
        title = f"{eid}  members: {', '.join(ghost.members)}"
        _print_timeline(title, timeline_rows(ghost.events), as_json)
    finally:
        store.close()


def lineage(
    cell_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """The chain of causation of a cell, oldest first, across stages and SPE generations."""
    from beamline.storeutil import open_configured_store
    from replay.timeline import timeline_rows

    store = open_configured_store(CONFIG.store_url, create_if_fresh=False)
    try:
        events = store.get_lineage_for_cell(cell_id)
        if not events:
            raise ValueError(f"no events recorded for cell {cell_id!r}")
        _print_timeline(f"lineage of {cell_id}", timeline_rows(events), as_json)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
    app.command("lineage")(lineage)
