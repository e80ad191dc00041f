"""The KG stage on the runner: after a run the store's KG tables hold what a full rebuild would,
with no ``beamline kg rebuild``, and an EID's graph exports as GraphML."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from typer.testing import CliRunner

from stages.kg.projection import project_kg
from stages.registry import STAGE_IDS
from store.kg_tables import edge_id
from tests.spe.pipeline_kit import run_sheet, sheet_flags

SHEET = """grid 16x16 spacing 0.0625 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.2)
cell heat : u + 0.0001 * Δu
cell lap : Δu
cell ratio : u / sin(2 * pi * x)
heat ↔ lap
"""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    assert "kg" in STAGE_IDS  # the runner hosts it with every other stage
    opened = run_sheet(SHEET, tmp_path_factory.mktemp("kg") / "kg.db", sheet_flags(SPE_AUTO_FUSE=True))
    yield opened
    opened.close()


def test_the_kg_tables_are_filled_during_the_run_as_a_rebuild_would(store: Any) -> None:
    nodes, edges = project_kg(store.iter_events())
    stored_nodes = {(n["id"], n["kind"]) for n in store.kg_nodes()}
    assert stored_nodes == {(n["id"], n["kind"]) for n in nodes}
    assert {e["id"] for e in store.kg_edges()} == {edge_id(e["kind"], e["source"], e["target"]) for e in edges}
    kinds = {kind for _, kind in stored_nodes}
    assert {"run", "cell", "beam", "eid", "mutation", "motif"} <= kinds
    # SQI's score reached the collapse beams' nodes through the incremental merge too.
    scored = [n for n in store.kg_nodes("beam") if n["attrs"].get("qscore") is not None]
    assert scored and all(n["event_id"] for n in scored)
    assert store.kg_edges("derived_from") and store.kg_edges("mutated_into")


def test_an_eid_exports_as_graphml_from_the_run_without_a_rebuild(store: Any, tmp_path: Path) -> None:
    from beamline.cli import app

    eid = next(e.payload["eid"] for e in store.events(types=["EntanglementLink"])
               if sorted(e.payload["members"]) == ["heat", "lap"])
    out = tmp_path / "eid.graphml"
    result = CliRunner().invoke(app, ["kg", "export", "--eid", eid, "--format", "graphml",
                                      "--store", store.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    graph = nx.read_graphml(io.BytesIO(out.read_bytes()), force_multigraph=True)
    assert f"eid:{eid}" in graph
    stored = {n["id"] for n in store.kg_nodes()}
    assert set(graph.nodes) <= stored  # every node of the EID's export is already in the tables
