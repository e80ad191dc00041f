"""``beamline kg export`` / ``kg rebuild`` against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from contracts.payloads import SheetSubmitted
from contracts.registry import make_event
from stages.kg.commands import register
from stages.kg.export import load
from store.beam_store import open_store

from .kg_events import EID, T0, history


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'beam.db'}"
    store = open_store(url, migrate=True)
    unrelated = make_event(SheetSubmitted(sheet_run_id="other", container_id="c1", source="..."),
                           stage_id="cli", index=0, sheet_run_id="other", container_id="c1", occurred_at=T0)
    store.persist_beam_events([*history(), unrelated])
    store.close()
    return url


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    register(app)
    return app


def test_export_eid_as_graphml(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "kg.graphml"
    result = CliRunner().invoke(cli(), ["kg", "export", "--eid", EID, "--format", "graphml", "--store", store_url,
                                        "--out", str(out)])
    assert result.exit_code == 0, result.output
    graph = load(out.read_bytes(), "graphml")
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (14, 28)
    assert "run:other" not in graph  # only the EID's run


def test_export_everything_as_json_to_stdout(store_url: str) -> None:
    result = CliRunner().invoke(cli(), ["kg", "export", "--format", "json", "--store", store_url])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert {node["id"] for node in data["nodes"]} >= {"run:other", f"eid:{EID}"}


def test_unknown_eid_and_format_are_errors(store_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(cli(), ["kg", "export", "--eid", "nope", "--store", store_url]).exit_code != 0
    assert runner.invoke(cli(), ["kg", "export", "--format", "dot", "--store", store_url]).exit_code != 0


def test_rebuild_persists_the_projection(store_url: str) -> None:
    result = CliRunner().invoke(cli(), ["kg", "rebuild", "--store", store_url])
    assert result.exit_code == 0, result.output
    assert "15 nodes, 28 edges" in result.stdout  # 14 + the unrelated run
    store = open_store(store_url)
    try:
        assert len(store.kg_nodes(kind="beam")) == 5
        assert len(store.kg_edges(kind="derived_from")) == 7
    finally:
        store.close()
