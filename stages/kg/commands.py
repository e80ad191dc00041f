"""``beamline kg export`` and ``beamline kg rebuild``: the KG projected from the store.

Heavy imports (SQLAlchemy, networkx) happen inside the commands so that
``beamline --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

kg_app = typer.Typer(help="Knowledge graph projected from the event log (export, rebuild).", no_args_is_help=True)

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default: the global --store, sqlite:///beamline.db).")
]


def _store_url(store: str | None) -> str:
    from beamline.config import CONFIG

    return store or CONFIG.store_url


def _open(url: str) -> Any:
    from store.beam_store import open_store

    return open_store(url)


def events_for_eid(store: Any, eid: str) -> list[Any]:
    """The EID's events, plus its runs' SheetSubmitted and the motifs naming one of its cells."""
    own = store.events(eid=eid)
    runs = sorted({env.sheet_run_id for env in own})
    members = {(env.sheet_run_id, env.cell_id) for env in own if env.cell_id}
    extra: list[Any] = []
    for run in runs:
        for env in store.events(sheet_run_id=run, types=["SheetSubmitted", "PatternMotif"]):
            if env.type == "SheetSubmitted" or any((run, c) in members for c in env.payload.get("cells", [])):
                extra.append(env)
    combined: list[Any] = [*extra, *own]
    return combined


@kg_app.command("export")
def export_command(
    eid: Annotated[str | None, typer.Option("--eid", help="Only this EID's graph (default: every event).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="graphml or json.")] = "graphml",
    store: StoreOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Project the KG from stored events and export it with networkx."""
    from stages.kg.export import FORMATS, render, to_networkx
    from stages.kg.projection import project_kg

    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    opened = _open(_store_url(store))
    try:
        events = events_for_eid(opened, eid) if eid else list(opened.iter_events())
    finally:
        opened.close()
    if eid and not events:
        raise typer.BadParameter(f"no events recorded for EID {eid!r}", param_hint="--eid")
    nodes, edges = project_kg(events)
    blob = render(to_networkx(nodes, edges), fmt)
    if out is None:
        typer.echo(blob.decode("utf-8"), nl=False)
        return
    out.write_bytes(blob)
    typer.echo(f"wrote {len(nodes)} nodes, {len(edges)} edges from {len(events)} events to {out} ({fmt})", err=True)


@kg_app.command("rebuild")
def rebuild_command(store: StoreOption = None) -> None:
    """Re-project the whole KG from the event log into the store's kg_nodes / kg_edges tables."""
    from stages.kg.projection import project_kg

    opened = _open(_store_url(store))
    try:
        node_count, edge_count = opened.rebuild_kg(project_kg)
    finally:
        opened.close()
    typer.echo(f"KG rebuilt: {node_count} nodes, {edge_count} edges")


def register(app: typer.Typer) -> None:
    """Add the ``kg`` sub-app to the ``beamline`` CLI."""
    app.add_typer(kg_app, name="kg")
