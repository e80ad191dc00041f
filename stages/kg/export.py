"""The projected KG as a networkx graph, and its GraphML / JSON exports.

``to_networkx`` builds a ``MultiDiGraph`` (two nodes may be linked by edges of
several kinds; the edge key is the kind). Node and edge attributes are the
item's ``kind``, ``event_id``, ``occurred_at`` and its ``attrs`` flattened to
scalars, because GraphML can only hold str/int/float/bool: a list or mapping
attribute is stored as its JSON text, and a null attribute is omitted.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import orjson

ExportFormat = Literal["graphml", "json"]
FORMATS: tuple[str, ...] = ("graphml", "json")


def _scalar_attrs(item: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (item.get("attrs") or {}).items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            flat[key] = value
        else:
            flat[key] = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    flat["kind"] = item["kind"]
    for key in ("event_id", "occurred_at"):
        if item.get(key) is not None:
            flat[key] = str(item[key])
    return flat


def to_networkx(nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]]) -> nx.MultiDiGraph:
    """A MultiDiGraph of the projection; an edge whose end is not a node brings a bare node."""
    graph = nx.MultiDiGraph()
    for node in nodes:
        graph.add_node(node["id"], **_scalar_attrs(node))
    for edge in edges:
        graph.add_edge(edge["source"], edge["target"], key=edge["kind"], **_scalar_attrs(edge))
    return graph


def render(graph: nx.MultiDiGraph, fmt: str) -> bytes:
    """The graph serialised as GraphML (XML) or node-link JSON."""
    if fmt == "graphml":
        buffer = io.BytesIO()
        nx.write_graphml(graph, buffer, encoding="utf-8")
        return buffer.getvalue()
    if fmt == "json":
        data = nx.node_link_data(graph, edges="edges")
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    raise ValueError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")


def export(graph: nx.MultiDiGraph, fmt: str, out: Path) -> int:
    """Write ``graph`` to ``out`` in ``fmt``; returns the number of bytes written."""
    blob = render(graph, fmt)
    out.write_bytes(blob)
    return len(blob)


def load(blob: bytes, fmt: str) -> nx.MultiDiGraph:
    """Read an export back (round-trip checks, downstream analysis)."""
    if fmt == "graphml":
        graph = nx.read_graphml(io.BytesIO(blob), force_multigraph=True)
        return nx.MultiDiGraph(graph)
    if fmt == "json":
        return nx.MultiDiGraph(nx.node_link_graph(orjson.loads(blob), edges="edges", multigraph=True, directed=True))
    raise ValueError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
