"""The ``beamline`` command. Sub-commands live next to the code they drive and register here.

Module-level imports stay light (no torch, jax, sqlalchemy, aiokafka) so that
``beamline --help`` starts fast; each command imports what it needs when it runs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from beamline.config import CONFIG

app = typer.Typer(
    name="beamline",
    help="Event-sourced pipeline engine for symbolic-numeric field computations (CodexLang).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module exposes register(app); missing modules are skipped so a partial tree still runs.
COMMAND_MODULES = (
    "beamline.commands_core",
    "beamline.commands_run",
    "bus.commands",
    "store.commands",
    "stages.codex.commands",
    "stages.kg.commands",
    "basin.commands",
    "replay.commands",
    "hud.commands",
)


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    bus: Annotated[str, typer.Option("--bus", help="Bus driver: memory or kafka.")] = "memory",
    store: Annotated[str | None, typer.Option("--store", help="Store URL (default sqlite:///beamline.db).")] = None,
    flags_file: Annotated[Path | None, typer.Option("--flags", help="flags.toml to use.")] = None,
    flag: Annotated[list[str] | None, typer.Option("--flag", help="Override a flag: NAME=VALUE.")] = None,
) -> None:
    CONFIG.debug = debug
    CONFIG.bus = bus
    if store:
        CONFIG.store_url = store
    CONFIG.flags_file = flags_file
    CONFIG.cli_flags = list(flag or [])


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    """Run the CLI: user errors become one line on stderr and exit code 1 (traceback with --debug)."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into one line
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if CONFIG.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
