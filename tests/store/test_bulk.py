"""Bulk inserts store exactly what SQLAlchemy's own insert stores, and count only new rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from store import bulk
from store.beam_store import BeamStore
from store.kg_tables import edge_row, node_row
from store.models import ENTANGLEMENTS, KG_EDGES, KG_NODES


def _raw(connection: Connection, table: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns))]


def test_insert_rows_stores_what_sqlalchemy_stores_and_skips_conflicts(store: BeamStore) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    nodes = [node_row({"id": f"n{i}", "kind": "beam", "attrs": {"q": i / 3, "s": "∇ é", "l": [None, True]},
                       "event_id": f"e{i}", "occurred_at": when}) for i in range(5)]
    nodes.append(node_row({"id": "bare", "kind": "run", "attrs": {}, "event_id": None, "occurred_at": None}))
    edges = [edge_row({"kind": "part_of", "source": f"n{i}", "target": "bare", "occurred_at": when.isoformat()})
             for i in range(5)]
    with store.connect() as connection, connection.begin():
        connection.execute(insert(KG_NODES), nodes)
        connection.execute(insert(KG_EDGES), edges)
        by_sqlalchemy = _raw(connection, KG_NODES), _raw(connection, KG_EDGES)
        connection.execute(delete(KG_EDGES))
        connection.execute(delete(KG_NODES))
        assert bulk.insert_rows(connection, KG_NODES, nodes) == len(nodes)
        assert bulk.insert_rows(connection, KG_EDGES, edges) == len(edges)
        assert (_raw(connection, KG_NODES), _raw(connection, KG_EDGES)) == by_sqlalchemy
        assert bulk.insert_rows(connection, KG_NODES, []) == 0

        links = [{"eid": "x", "cell_id": c, "position": i, "sheet_run_id": "r", "event_id": "e"}
                 for i, c in enumerate("abc")]
        assert bulk.insert_rows(connection, ENTANGLEMENTS, links[:2], skip_conflicts_on=("eid", "cell_id")) == 2
        # A stored key is skipped (not an error) and not counted.
        assert bulk.insert_rows(connection, ENTANGLEMENTS, links, skip_conflicts_on=("eid", "cell_id")) == 1
        assert len(_raw(connection, ENTANGLEMENTS)) == 3
