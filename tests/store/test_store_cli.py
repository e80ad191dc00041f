"""``beamline store migrate|status`` against a SQLite file."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from store.beam_store import open_store
from store.commands import register
from store.migrate import head_revision


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """beamline (test harness)."""

    register(app)
    return app


def test_migrate_creates_a_fresh_store_and_status_reports_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    before = runner.invoke(_app(), ["store", "status", "--store", url])
    assert before.exit_code == 1
    assert "revision none" in before.output and "beamline store migrate" in before.output
    assert not (tmp_path / "cli.db").exists()  # looking did not create an empty store

    migrated = runner.invoke(_app(), ["store", "migrate", "--store", url])
    assert migrated.exit_code == 0, migrated.output
    assert f"schema revision {head_revision()}" in migrated.output

    after = runner.invoke(_app(), ["store", "status", "--store", url])
    assert after.exit_code == 0 and "(head)" in after.output
    open_store(url).close()


def test_migrate_reports_an_unusable_url_in_one_line() -> None:
    result = CliRunner().invoke(_app(), ["store", "migrate", "--store", "mysql://nowhere/db"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "unsupported store backend" in result.output
