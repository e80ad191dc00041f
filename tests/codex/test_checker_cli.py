"""``beamline check``: a table for a clean sheet, every error rendered (exit 1) for a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from stages.codex.commands import register


def app() -> typer.Typer:
    cli = typer.Typer()

    @cli.callback()
    def root() -> None:
        """Test root so that `check` is a sub-command."""

    register(cli)
    return cli


def test_clean_sheet_prints_a_table(tmp_path: Path, heat_source: str) -> None:
    sheet = tmp_path / "heat.codex"
    sheet.write_text(heat_source, encoding="utf-8")
    result = CliRunner().invoke(app(), ["check", str(sheet)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for cell in ("heat", "lap", "flux", "fringe", "step"):
        assert cell in result.output
    assert "heat ↔ lap" in result.output


def test_json_output_is_the_ingest_result(tmp_path: Path, heat_source: str) -> None:
    sheet = tmp_path / "heat.codex"
    sheet.write_text(heat_source, encoding="utf-8")
    result = CliRunner().invoke(app(), ["check", str(sheet), "--json"])
    data = json.loads(result.output)
    assert list(data["cells"]) == ["heat", "lap", "flux", "fringe", "step"]
    assert data["cells"]["flux"]["shape"] == [64, 64, 4]
    assert data["groups"][0] == ["heat", "lap"]


def test_errors_are_rendered_and_exit_1(tmp_path: Path) -> None:
    sheet = tmp_path / "bad.codex"
    sheet.write_text("cell a : ∇·x\ncell b : nrm(x)\n", encoding="utf-8")
    result = CliRunner().invoke(app(), ["check", str(sheet)])
    assert result.exit_code == 1
    assert f"{sheet}:1:12: type error: ∇· expects a vector field, got a scalar field (x)" in result.output
    assert "hint: did you mean norm?" in result.output
    assert "2 errors in" in result.output
