"""``beamline flags …`` and ``beamline contracts …``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from beamline.config import CONFIG

flags_app = typer.Typer(help="Feature flags and thresholds (list, get, set).", no_args_is_help=True)
contracts_app = typer.Typer(help="Event contracts: regenerate JSON Schemas, validate foreign JSON.",
                            no_args_is_help=True)


def _runtime_overrides() -> dict[str, Any]:
    """Latest FlagChanged value per flag recorded in the store (empty if no store yet)."""
    from beamline.runtime_flags import recorded_overrides

    return recorded_overrides(CONFIG.store_url)


def current_flags() -> dict[str, Any]:
    from beamline import flags

    return flags.resolve(flags_file=CONFIG.flags_file, runtime=_runtime_overrides(), cli=CONFIG.cli_flags)


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@flags_app.command("list")
def flags_list(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every flag with the value in force and its digest."""
    from rich.console import Console
    from rich.table import Table

    from beamline import flags

    values = current_flags()
    if json_out:
        import orjson

        typer.echo(orjson.dumps({"flags": values, "digest": flags.digest(values)}).decode())
        return
    table = Table(title=f"flags in force (digest {flags.digest(values)})")
    table.add_column("flag")
    table.add_column("value")
    table.add_column("meaning")
    for name, spec in flags.SPECS.items():
        table.add_row(name, _show(values[name]), spec.help)
    Console().print(table)


@flags_app.command("get")
def flags_get(name: str) -> None:
    """Print one flag's value in force."""
    from beamline import flags

    if name not in flags.SPECS:
        raise flags.FlagError(f"unknown flag {name!r} (see `beamline flags list`)")
    typer.echo(_show(current_flags()[name]))


@flags_app.command("set")
def flags_set(assignment: str) -> None:
    """Set NAME=VALUE at runtime: a FlagChanged event, recorded and published on beamline.control."""
    from beamline import flags
    from beamline.runtime_flags import publish_flag_change

    changes = flags.parse_assignments([assignment])
    ((name, value),) = changes.items()
    previous = current_flags()[name]
    publish_flag_change(CONFIG.store_url, CONFIG.bus, name, value, previous)
    typer.echo(f"{name} = {_show(value)} (was {_show(previous)})")


@contracts_app.command("schema")
def contracts_schema() -> None:
    """Regenerate contracts/schemas/*.json and contracts/events.md from the models."""
    from contracts.schemagen import write_all

    for path in write_all():
        typer.echo(f"wrote {path}")


@contracts_app.command("validate")
def contracts_validate(file: Path) -> None:
    """Validate a JSON file (object, array or JSON lines) against the event schemas."""
    from contracts.validate import validate_bytes

    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file")
    problems = validate_bytes(file.read_bytes())
    if not problems:
        typer.echo(f"{file}: valid")
        return
    for problem in problems:
        typer.echo(f"{file}: {problem.path}: {problem.message}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(flags_app, name="flags")
    app.add_typer(contracts_app, name="contracts")
