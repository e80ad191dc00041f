"""``beamline check SHEET.codex``: parse and check a sheet without running it.

Errors are printed the way codexlang.md shows them (file:line:col, source line,
caret, hint), all at once, and the command exits 1. A clean sheet prints one row
per cell in run order: type, shape, dependencies, estimated cost and route.
Imports stay inside the command so ``beamline --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stages.codex.checker import CheckedSheet
    from stages.codex.cost import Cost, CostModel


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    sheet: Annotated[Path, typer.Argument(help="The .codex sheet to check.")],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Directory load() may read .npy files from.")]
    = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the checked cells as JSON.")] = False,
) -> None:
    """Parse and type-check a sheet; print every error, or a table of its cells and their cost."""
    from stages.codex.checker import compile_sheet
    from stages.codex.cost import CostModel, sheet_costs
    from stages.codex.errors import CodexError

    try:
        text = sheet.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {sheet}: {exc}", err=True)
        raise SystemExit(1) from None
    try:
        checked = compile_sheet(text, str(sheet), data_dir=str(data_dir) if data_dir else None)
    except CodexError as exc:
        errors = exc.flatten()
        typer.echo(exc.render(text), err=True)
        typer.echo(f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {sheet}", err=True)
        raise SystemExit(1) from None
    model = CostModel.from_flags(_flags())
    costs = sheet_costs([(c.id, c.expanded) for c in checked.cells], checked.sheet.grid, model)
    if json_out:
        import orjson

        from stages.codex.stage import ingest_result

        rows = {c.id: ingest_result(checked, c, costs[c.id], 0) for c in checked.cells}
        typer.echo(orjson.dumps({"cells": rows, "groups": [list(g) for g in checked.groups]}).decode())
        return
    _print_table(checked, costs, model)


def _flags() -> dict[str, object]:
    """Flags in force from flags.toml / environment / --flag (the store is not consulted)."""
    try:
        from beamline import flags
        from beamline.config import CONFIG

        return dict(flags.resolve(flags_file=CONFIG.flags_file, cli=CONFIG.cli_flags))
    except (ImportError, ValueError):
        return {}


def _print_table(checked: CheckedSheet, costs: dict[str, Cost], model: CostModel) -> None:
    from rich.console import Console
    from rich.table import Table

    sheet = checked.sheet
    grid = "x".join(str(n) for n in sheet.grid.shape)
    table = Table(title=f"{sheet.name or sheet.filename}: {len(checked.cells)} cells on a {grid} grid "
                        f"(threshold {model.cost_threshold:g} flops)")
    for column in ("cell", "type", "shape", "deps", "flops", "bytes", "risk", "route"):
        table.add_column(column, justify="right" if column in ("flops", "bytes", "risk") else "left")
    for cell in checked.cells:
        cost = costs[cell.id]
        t = cell.type
        kind = t.kind if t.kind != "field" else ("vector" if t.components is not None else "scalar") + " field"
        kind += " (t)" if t.time else ""
        kind += " complex" if t.complex else ""
        risk = f"{cost.ethics_risk:.2f}" + (f" {','.join(cost.risk_flags)}" if cost.risk_flags else "")
        route = "heavy" if cost.flops >= model.cost_threshold else "light"
        table.add_row(cell.id, kind, str(list(cell.shape)), ", ".join(cell.deps), f"{cost.flops:.3g}",
                      f"{cost.bytes:.3g}", risk, route)
    Console().print(table)
    groups = [g for g in checked.groups if len(g) > 1]
    if groups:
        Console().print("entangled: " + "; ".join(" ↔ ".join(g) for g in groups))
