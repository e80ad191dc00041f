"""KG projection tables: written whole by replace_kg / rebuild_kg, read back with provenance."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from contracts.envelope import Envelope
from store.beam_store import BeamStore
from store.sample_runs import sample_run


def causation_projection(
    events: Iterable[Envelope],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """A small stand-in for stages/kg: one node per event, a derived_from edge per causation link."""
    nodes: list[Mapping[str, Any]] = []
    edges: list[Mapping[str, Any]] = []
    for event in events:
        nodes.append({"id": event.event_id, "kind": event.type, "event_id": event.event_id,
                      "occurred_at": event.occurred_at, "attrs": {"cell": event.cell_id}})
        if event.causation_id:
            edges.append({"kind": "derived_from", "source": event.event_id, "target": event.causation_id,
                          "event_id": event.event_id, "occurred_at": event.occurred_at.isoformat()})
    return nodes, edges


def test_rebuild_kg_stores_the_projection_with_provenance(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=1)
    store.persist(run)
    assert store.rebuild_kg(causation_projection) == (len(run), len(run) - 1)

    nodes = {node["id"]: node for node in store.kg_nodes()}
    assert set(nodes) == {e.event_id for e in run}
    first = nodes[run[3].event_id]
    assert first["kind"] == run[3].type and first["attrs"] == {"cell": run[3].cell_id}
    assert first["occurred_at"] == run[3].occurred_at and first["event_id"] == run[3].event_id
    edges = store.kg_edges("derived_from")
    assert {(edge["source"], edge["target"]) for edge in edges} == {
        (e.event_id, e.causation_id) for e in run if e.causation_id
    }
    assert len({edge["id"] for edge in edges}) == len(edges)


def test_replace_kg_replaces_everything_and_merges_repeated_ids(store: BeamStore) -> None:
    store.replace_kg([{"id": "n1", "kind": "cell"}, {"id": "n2", "kind": "cell"}],
                     [{"kind": "entangled", "source": "n1", "target": "n2"}])
    store.replace_kg([{"id": "n3", "kind": "eid", "attrs": {"v": 1}}, {"id": "n3", "kind": "eid", "attrs": {"v": 2}}], [])
    assert [(n["id"], n["attrs"]) for n in store.kg_nodes()] == [("n3", {"v": 2})]
    assert store.kg_edges() == []
    assert store.kg_nodes("cell") == []


def test_replace_kg_rejects_an_edge_without_endpoints(store: BeamStore) -> None:
    with pytest.raises(ValueError, match="source"):
        store.replace_kg([], [{"kind": "entangled", "target": "n2"}])


def test_merge_kg_adds_attributes_keeps_provenance_and_skips_what_it_merged(store: BeamStore) -> None:
    node = {"id": "n1", "kind": "cell", "attrs": {"a": 1}, "event_id": "e1"}
    edge = {"kind": "entangled", "source": "n1", "target": "n2", "event_id": "e1"}
    assert store.merge_kg([node], [edge]) == 2
    assert store.merge_kg([node], [edge]) == 0  # a repeat: nothing changes
    assert store.merge_kg([{**node, "attrs": {"a": 9, "b": 2}, "event_id": "e2"}], []) == 1
    (stored,) = store.kg_nodes()
    assert stored["attrs"] == {"a": 1, "b": 2} and stored["event_id"] == "e1"
    # What replace_kg deleted is merged again (the store forgets what it had merged).
    store.replace_kg([], [])
    assert store.merge_kg([node], [edge]) == 2
    assert [n["attrs"] for n in store.kg_nodes()] == [{"a": 1}] and len(store.kg_edges()) == 1


def test_merge_kg_of_a_second_store_object_sees_rows_it_did_not_merge(store: BeamStore) -> None:
    other = BeamStore(store.url)
    try:
        node = {"id": "n1", "kind": "cell", "attrs": {"a": 1}}
        assert other.merge_kg([node], []) == 1
        assert store.merge_kg([{**node, "attrs": {"b": 2}}], []) == 1
        assert [n["attrs"] for n in other.kg_nodes()] == [{"a": 1, "b": 2}]
    finally:
        other.close()
