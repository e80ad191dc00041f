"""The KG projection: nodes and edges with provenance, networkx round trips."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import orjson

from stages.kg.export import load, render, to_networkx
from stages.kg.projection import project_kg

from .kg_events import EID, RUN, history


def test_projection_counts_by_kind() -> None:
    nodes, edges = project_kg(history())
    assert Counter(n["kind"] for n in nodes) == {
        "run": 1, "cell": 3, "eid": 1, "glyph": 2, "beam": 5, "mutation": 1, "motif": 1,
    }
    assert Counter(e["kind"] for e in edges) == {
        "part_of": 8, "entangled": 2, "uses_glyph": 6, "derived_from": 7, "mutated_into": 3, "contains_motif": 2,
    }


def test_every_item_has_provenance() -> None:
    events = history()
    ids = {env.event_id: env for env in events}
    nodes, edges = project_kg(events)
    for item in [*nodes, *edges]:
        assert item["event_id"] in ids
        assert item["occurred_at"] == ids[item["event_id"]].occurred_at.isoformat()
    run_node = next(n for n in nodes if n["kind"] == "run")
    assert run_node["id"] == f"run:{RUN}" and run_node["event_id"] == events[0].event_id
    assert run_node["attrs"]["filename"] == "demo.codex"


def test_causation_edges_skip_non_node_events() -> None:
    events = history()
    by_id = {env.event_id: env for env in events}
    _, edges = project_kg(events)
    derived = {(e["source"], e["target"]) for e in edges if e["kind"] == "derived_from"}
    approved = next(env for env in events if env.type == "BeamEvent" and env.payload["stage"] == "approved")
    collapse_id = approved.causation_id
    assert collapse_id is not None and by_id[collapse_id].payload["stage"] == "collapse"
    assert (f"beam:{approved.event_id}", f"beam:{collapse_id}") in derived
    assert ("mutation:mut-1", f"beam:{approved.event_id}") in derived
    mutated = {(e["source"], e["target"]) for e in edges if e["kind"] == "mutated_into"}
    assert (f"cell:{RUN}:a", "mutation:mut-1") in mutated
    assert ("mutation:mut-1", f"cell:{RUN}:a.g1") in mutated


def test_scores_annotate_the_collapse_beam() -> None:
    events = history()
    nodes, _ = project_kg(events)
    collapse = next(n for n in nodes if n["kind"] == "beam" and n["attrs"]["stage"] == "collapse")
    assert collapse["attrs"]["qscore"] == 0.9 and collapse["attrs"]["allowed"] is True


def test_projection_is_deterministic_and_idempotent() -> None:
    events = history()
    once = project_kg(events)
    assert project_kg(events) == once
    assert project_kg(events + events) == once  # redelivered events count once


def test_graphml_round_trip() -> None:
    graph = to_networkx(*project_kg(history()))
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (14, 28)
    back = load(render(graph, "graphml"), "graphml")
    assert (back.number_of_nodes(), back.number_of_edges()) == (14, 28)
    assert back.nodes[f"eid:{EID}"]["kind"] == "eid"
    assert orjson.loads(back.nodes[f"eid:{EID}"]["members"]) == ["a", "b"]
    kinds = Counter(kind for _, _, kind in back.edges(keys=True))
    assert kinds["derived_from"] == 7 and kinds["contains_motif"] == 2
    assert nx.is_weakly_connected(back)


def test_json_round_trip() -> None:
    graph = to_networkx(*project_kg(history()))
    blob = render(graph, "json")
    back = load(blob, "json")
    assert (back.number_of_nodes(), back.number_of_edges()) == (14, 28)
    assert set(back.nodes) == set(graph.nodes)
