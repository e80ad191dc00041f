"""The KG projection's tables: written whole by ``replace``, read back as plain dicts.

The projection itself (which nodes and edges events imply) belongs to
``stages/kg``; it hands over plain mappings so stages never import the store:

* node: ``id``, ``kind``, optional ``attrs`` (JSON object), ``event_id`` and
  ``occurred_at`` (datetime or ISO-8601 string) — the provenance;
* edge: the same plus ``source`` and ``target`` node ids; ``id`` is optional and
  defaults to a blake2b digest of (kind, source, target).

Items sharing an id are merged last-wins, so a projection may emit a node every
time an event mentions it.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from store import bulk
from store.models import KG_EDGES, KG_NODES
from store.rows import utc_naive


def edge_id(kind: str, source: str, target: str) -> str:
    material = f"{kind}|{source}|{target}".encode()
    return "edge:" + hashlib.blake2b(material, digest_size=16).hexdigest()


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc_naive(value)
    if isinstance(value, str):
        return _parsed_moment(value)
    raise TypeError(f"occurred_at must be a datetime or ISO string, not {type(value).__name__}")


@functools.lru_cache(maxsize=4096)
def _parsed_moment(text: str) -> datetime:
    # Every node and edge an event implies carries that event's occurred_at: parsed once each.
    return utc_naive(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _required(item: Mapping[str, Any], key: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"KG {what} needs a non-empty string {key!r}: {dict(item)!r}")
    return value


def node_row(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": _required(item, "id", "node"),
        "kind": _required(item, "kind", "node"),
        "attrs": dict(item.get("attrs") or {}),
        "event_id": item.get("event_id"),
        "occurred_at": _moment(item.get("occurred_at")),
    }


def edge_row(item: Mapping[str, Any]) -> dict[str, Any]:
    kind = _required(item, "kind", "edge")
    source = _required(item, "source", "edge")
    target = _required(item, "target", "edge")
    return {
        "id": item.get("id") or edge_id(kind, source, target),
        "kind": kind,
        "source": source,
        "target": target,
        "attrs": dict(item.get("attrs") or {}),
        "event_id": item.get("event_id"),
        "occurred_at": _moment(item.get("occurred_at")),
    }


def replace(connection: Connection, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]]) -> None:
    """Delete the KG and insert ``nodes`` and ``edges`` (caller holds the transaction)."""
    node_rows = {row["id"]: row for row in map(node_row, nodes)}
    edge_rows = {row["id"]: row for row in map(edge_row, edges)}
    connection.execute(delete(KG_EDGES))
    connection.execute(delete(KG_NODES))
    bulk.insert_rows(connection, KG_NODES, list(node_rows.values()))
    bulk.insert_rows(connection, KG_EDGES, list(edge_rows.values()))


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def read_nodes(connection: Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """Nodes (optionally of one kind) ordered by id; ``occurred_at`` is UTC-aware."""
    query = select(KG_NODES).order_by(KG_NODES.c.id)
    if kind is not None:
        query = query.where(KG_NODES.c.kind == kind)
    return [{**row._asdict(), "occurred_at": _aware(row.occurred_at)} for row in connection.execute(query)]


def read_edges(connection: Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """Edges (optionally of one kind) ordered by id; ``occurred_at`` is UTC-aware."""
    query = select(KG_EDGES).order_by(KG_EDGES.c.id)
    if kind is not None:
        query = query.where(KG_EDGES.c.kind == kind)
    return [{**row._asdict(), "occurred_at": _aware(row.occurred_at)} for row in connection.execute(query)]


class MergedRows:
    """KG rows a store object merged lately: node id -> attribute names it holds, edge keys.

    KG rows are only deleted by ``replace`` (which calls ``forget``), so a node known here
    with every attribute an item brings, or a known edge, would be merged as a no-op.
    Bounded: the oldest are forgotten first (then merged again, harmlessly).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._nodes: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._edges: OrderedDict[Any, None] = OrderedDict()

    @staticmethod
    def _edge_key(item: Mapping[str, Any]) -> Any:
        return item.get("id") or (item.get("kind"), item.get("source"), item.get("target"))

    def has_node(self, item: Mapping[str, Any]) -> bool:
        node_id = item.get("id")
        held = self._nodes.get(node_id) if isinstance(node_id, str) else None
        return held is not None and held.issuperset(item.get("attrs") or ())

    def has_edge(self, item: Mapping[str, Any]) -> bool:
        return self._edge_key(item) in self._edges

    def remember(self, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]]) -> None:
        """Record rows just committed by ``merge`` (attribute names add up, as ``merge`` merges them)."""
        for item in nodes:
            node_id = item["id"]
            self._nodes[node_id] = self._nodes.get(node_id, frozenset()) | frozenset(item.get("attrs") or ())
            self._nodes.move_to_end(node_id)
        for item in edges:
            key = self._edge_key(item)
            self._edges[key] = None
            self._edges.move_to_end(key)
        for held in (self._nodes, self._edges):
            while len(held) > self.size:
                held.popitem(last=False)

    def forget(self) -> None:
        self._nodes.clear()
        self._edges.clear()


def merge(connection: Connection, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]]) -> int:
    """Add ``nodes`` and ``edges`` to the KG without deleting anything (the KG stage's batches).

    A node already stored keeps its provenance and attribute values and gains only
    attributes it lacks; a stored edge is left as it is. Merging the same rows twice
    changes nothing. Returns how many rows were inserted or updated.
    """
    node_rows = {row["id"]: row for row in map(node_row, nodes)}
    edge_rows = {row["id"]: row for row in map(edge_row, edges)}
    changed = 0
    if node_rows:
        stored = {row.id: row.attrs or {} for row in connection.execute(
            select(KG_NODES.c.id, KG_NODES.c.attrs).where(KG_NODES.c.id.in_(list(node_rows))))}
        fresh = [row for node_id, row in node_rows.items() if node_id not in stored]
        bulk.insert_rows(connection, KG_NODES, fresh)
        grown = []
        for node_id, attrs in stored.items():
            merged = {**node_rows[node_id]["attrs"], **attrs}
            if merged != attrs:
                grown.append({"node_id": node_id, "merged": merged})
        if grown:  # one executemany, not a statement per node
            connection.execute(
                update(KG_NODES).where(KG_NODES.c.id == bindparam("node_id")).values(attrs=bindparam("merged")),
                grown,
            )
        changed += len(fresh) + len(grown)
    if edge_rows:
        stored_edges = set(connection.execute(
            select(KG_EDGES.c.id).where(KG_EDGES.c.id.in_(list(edge_rows)))).scalars())
        fresh_edges = [row for edge_id, row in edge_rows.items() if edge_id not in stored_edges]
        bulk.insert_rows(connection, KG_EDGES, fresh_edges)
        changed += len(fresh_edges)
    return changed
