"""``beamline run SHEET.codex`` and ``beamline worker STAGE``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from beamline.config import CONFIG


def run(
    sheet: Path,
    seed: Annotated[int, typer.Option(help="Seed of every random draw in the run.")] = 0,
    container: Annotated[str, typer.Option(help="Container (workspace) id.")] = "default",
    run_id: Annotated[str | None, typer.Option("--run-id", help="Sheet run id (default: a new one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Submit a sheet and run it through every stage; print the summary and the EIDs."""
    from beamline.runner_cli import run_sheet

    if not sheet.exists():
        raise FileNotFoundError(f"{sheet}: no such file")
    source = sheet.read_text(encoding="utf-8")
    summary = run_sheet(
        source, filename=sheet.name, seed=seed, container_id=container,
        run_id=run_id or f"run-{uuid.uuid4().hex[:10]}", show_progress=not as_json,
    )
    if as_json:
        import orjson

        typer.echo(orjson.dumps(summary.to_json()).decode())
    else:
        from beamline.summary import print_summary

        print_summary(summary, _store_flag())
    if summary.errors:
        raise typer.Exit(2)


def _store_flag() -> str:
    from beamline.config import DEFAULT_STORE

    return "" if CONFIG.store_url == DEFAULT_STORE else f" --store {CONFIG.store_url}"


def register(app: typer.Typer) -> None:
    app.command("run")(run)
