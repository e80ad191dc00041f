"""The knowledge graph as a pure projection of events (rebuildable from the log at any time).

``project_kg(envelopes)`` returns ``(nodes, edges)`` as plain mappings in the
form ``store.kg_tables`` stores (``id kind attrs event_id occurred_at``; edges add
``source target``). The same events in the same order always give the same
graph; an event seen twice (redelivery) counts once.

Nodes (id scheme ``kind:key``):

========== ======================================= =====================================
kind       id                                      from
========== ======================================= =====================================
run        ``run:<sheet_run_id>``                  SheetSubmitted (or any event of the run)
cell       ``cell:<sheet_run_id>:<cell_id>``       any event naming a cell; Link members
beam       ``beam:<event_id>``                     BeamEvent (score/decision added as attrs)
eid        ``eid:<eid>``                           EntanglementLink, or any event under an EID
glyph      ``glyph:<symbol>``                      GlyphExecution, BeamEvent token
mutation   ``mutation:<mutation_id>``              DNAMutation
motif      ``motif:<motif_id>``                    PatternMotif
========== ======================================= =====================================

Edges: ``derived_from`` (a node's event → the node of its causation event,
following causation through events that are not nodes, such as SQIScore),
``entangled`` (cell → eid), ``mutated_into`` (original cell → mutation →
mutated cell; parents → mutation), ``contains_motif`` (cell → motif), and the
structural ``part_of`` (cell → run, beam → cell) and ``uses_glyph`` (beam/cell →
glyph) that connect the rest. Each node and edge carries the provenance of the
first event that implied it: ``event_id`` and ``occurred_at`` (ISO-8601).

Incremental projection (the KG stage): ``project_new(envelopes, anchored)`` projects
only ``envelopes`` — events not projected before — given ``anchored``, the node each
already-projected event they name stands for. Their rows are then exactly what the
full projection adds to rows already merged (see ``project_new``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from contracts.envelope import Envelope

KGItem = dict[str, Any]
BEAM_ATTR_KEYS = ("route", "normal_key", "fork", "threshold")


def run_node_id(sheet_run_id: str) -> str:
    return f"run:{sheet_run_id}"


def cell_node_id(sheet_run_id: str, cell_id: str) -> str:
    return f"cell:{sheet_run_id}:{cell_id}"


class _Graph:
    """Accumulates nodes and edges, first provenance wins, attrs merge."""

    def __init__(self, anchors: Mapping[str, str]) -> None:
        self.anchors = anchors
        self.nodes: dict[str, KGItem] = {}
        self.edges: dict[tuple[str, str, str], KGItem] = {}

    def node(self, node_id: str, kind: str, env: Envelope, **attrs: Any) -> str:
        existing = self.nodes.get(node_id)
        clean = {k: v for k, v in attrs.items() if v is not None}
        if existing is None:
            self.nodes[node_id] = {
                "id": node_id, "kind": kind, "attrs": clean,
                "event_id": env.event_id, "occurred_at": env.occurred_at.isoformat(),
            }
        else:
            for key, value in clean.items():
                existing["attrs"].setdefault(key, value)
        return node_id

    def edge(self, kind: str, source: str, target: str, env: Envelope, **attrs: Any) -> None:
        key = (kind, source, target)
        if key not in self.edges and source != target:
            self.edges[key] = {
                "kind": kind, "source": source, "target": target,
                "attrs": {k: v for k, v in attrs.items() if v is not None},
                "event_id": env.event_id, "occurred_at": env.occurred_at.isoformat(),
            }

    def run(self, env: Envelope) -> str:
        return self.node(run_node_id(env.sheet_run_id), "run", env, container_id=env.container_id)

    def cell(self, env: Envelope, cell_id: str, generation: int | None = None) -> str:
        run = self.run(env)
        node_id = self.node(
            cell_node_id(env.sheet_run_id, cell_id), "cell", env,
            cell_id=cell_id, sheet_run_id=env.sheet_run_id, generation=generation,
        )
        self.edge("part_of", node_id, run, env)
        return node_id

    def eid(self, env: Envelope, eid: str) -> str:
        return self.node(f"eid:{eid}", "eid", env, eid=eid, sheet_run_id=env.sheet_run_id)

    def glyph(self, env: Envelope, symbol: str) -> str:
        return self.node(f"glyph:{symbol}", "glyph", env, glyph=symbol)


def _unique(envelopes: Iterable[Envelope]) -> list[Envelope]:
    seen: set[str] = set()
    ordered: list[Envelope] = []
    for env in envelopes:
        if env.event_id not in seen:
            seen.add(env.event_id)
            ordered.append(env)
    return ordered


def _node_of_event(env: Envelope) -> str | None:
    payload = env.payload
    if env.type == "SheetSubmitted":
        return run_node_id(env.sheet_run_id)
    if env.type == "BeamEvent":
        return f"beam:{env.event_id}"
    if env.type == "DNAMutation":
        return f"mutation:{payload['mutation_id']}"
    if env.type == "PatternMotif":
        return f"motif:{payload['motif_id']}"
    return None


def _anchors(events: list[Envelope], anchored: Mapping[str, str]) -> dict[str, str]:
    """event_id → the graph node that stands for it (its own, or its nearest caused-by node).

    ``anchored``: that node for events outside ``events`` (projected earlier); a causation
    chain that reaches one of them ends there.
    """
    causation = {env.event_id: env.causation_id for env in events}
    anchors = dict(anchored)
    anchors.update((env.event_id, node) for env in events if (node := _node_of_event(env)) is not None)

    def resolve(event_id: str) -> str | None:
        chain: list[str] = []
        current: str | None = event_id
        while current is not None and current not in anchors and current in causation:
            if current in chain:  # a causation cycle cannot come from make_event; stop rather than loop
                return None
            chain.append(current)
            current = causation[current]
        found = anchors.get(current) if current is not None else None
        if found is not None:
            for link in chain:
                anchors[link] = found
        return found

    for env in events:
        resolve(env.event_id)
    return anchors


def project_kg(envelopes: Iterable[Envelope]) -> tuple[list[KGItem], list[KGItem]]:
    """Nodes and edges implied by ``envelopes`` (see the module docstring)."""
    nodes, edges, _ = project_new(envelopes, {})
    return nodes, edges


def project_new(
    envelopes: Iterable[Envelope], anchored: Mapping[str, str]
) -> tuple[list[KGItem], list[KGItem], dict[str, str]]:
    """Nodes, edges and anchors (event id → the node that stands for it) of ``envelopes``, events
    not projected before, whose ancestors are either among them or in ``anchored``.

    Why this equals re-projecting the ancestors too: an ancestor's rows are merged already,
    and a merge keeps a stored row's provenance and attribute values, so its rows would
    change nothing — except SQI's annotation of an already-merged beam, which is emitted
    here as an attribute-only item for that node (the merge adds only what it lacks).
    With ``anchored`` empty this is ``project_kg``.
    """
    events = _unique(envelopes)
    anchors = _anchors(events, anchored)
    graph = _Graph(anchors)
    # Nodes merged before and not being projected now: the ones SQI's annotation may reach
    # without their own event here. (A node whose event comes later in ``events`` is left
    # alone, as ``project_kg`` leaves it.)
    merged_before = set(anchored.values()).difference(map(_node_of_event, events)) if anchored else set()
    for env in events:
        _project_one(graph, env)
        own = _node_of_event(env)
        if own is not None and env.causation_id is not None:
            cause = anchors.get(env.causation_id)
            if cause is not None:
                graph.edge("derived_from", own, cause, env)
        if env.type in ("SQIScore", "SoulLawDecision") and env.causation_id is not None:
            scored = anchors.get(env.causation_id)
            if scored in merged_before and scored not in graph.nodes:
                graph.node(scored, _kind_of(scored), env)
            _annotate_scored_beam(graph, env, scored)
    return list(graph.nodes.values()), list(graph.edges.values()), anchors


def _project_one(graph: _Graph, env: Envelope) -> None:
    payload = env.payload
    if env.type == "SheetSubmitted":
        graph.node(
            run_node_id(env.sheet_run_id), "run", env, container_id=env.container_id,
            filename=payload.get("filename"), seed=payload.get("seed"),
            basin_id=payload.get("basin_id"), identity=payload.get("identity"),
        )
    elif env.type == "BeamEvent":
        _project_beam(graph, env)
    elif env.type == "EntanglementLink":
        eid_node = graph.eid(env, str(payload["eid"]))
        graph.nodes[eid_node]["attrs"].setdefault("members", list(payload.get("members", [])))
        for member in payload.get("members", []):
            graph.edge("entangled", graph.cell(env, str(member)), eid_node, env)
    elif env.type == "GlyphExecution":
        glyph = graph.glyph(env, str(payload["glyph"]))
        if payload.get("cell_id"):
            graph.edge("uses_glyph", graph.cell(env, str(payload["cell_id"])), glyph, env)
    elif env.type == "DNAMutation":
        _project_mutation(graph, env)
    elif env.type == "PatternMotif":
        motif = graph.node(
            f"motif:{payload['motif_id']}", "motif", env, motif_kind=payload.get("kind"),
            canonical=payload.get("canonical"), support=payload.get("support"),
            snapshot_id=payload.get("snapshot_id"), container_id=payload.get("container_id"),
        )
        for cell in payload.get("cells", []):
            graph.edge("contains_motif", graph.cell(env, str(cell)), motif, env)


def _project_beam(graph: _Graph, env: Envelope) -> None:
    payload = env.payload
    result: Mapping[str, Any] = payload.get("result") or {}
    extra = {key: result.get(key) for key in BEAM_ATTR_KEYS if not isinstance(result.get(key), (dict, list))}
    generation = int(payload.get("generation", 0))
    beam = graph.node(
        f"beam:{env.event_id}", "beam", env, stage=payload.get("stage"), beam_id=payload.get("beam_id"),
        cell_id=payload.get("cell_id"), token=payload.get("token"), generation=generation, **extra,
    )
    cell = graph.cell(env, str(payload["cell_id"]), generation)
    graph.edge("part_of", beam, cell, env)
    if payload.get("token"):
        graph.edge("uses_glyph", beam, graph.glyph(env, str(payload["token"])), env)
    if payload.get("eid"):
        graph.edge("entangled", cell, graph.eid(env, str(payload["eid"])), env)


def _project_mutation(graph: _Graph, env: Envelope) -> None:
    payload = env.payload
    metadata: Mapping[str, Any] = payload.get("metadata") or {}
    mutation = graph.node(
        f"mutation:{payload['mutation_id']}", "mutation", env, reason=metadata.get("reason"),
        entropy_delta=metadata.get("entropy_delta"),
        rewrite_success_prob=metadata.get("rewrite_success_prob"),
    )
    original = (payload.get("original") or {}).get("cell_id")
    mutated = (payload.get("mutated") or {}).get("cell_id")
    if isinstance(original, str) and original:
        graph.edge("mutated_into", graph.cell(env, original), mutation, env)
    if isinstance(mutated, str) and mutated:
        graph.edge("mutated_into", mutation, graph.cell(env, mutated), env, role="result")
    for parent in payload.get("parents", []):
        if not isinstance(parent, str) or not parent:
            continue
        # A parent is an event id (its node) or a cell id of the same run (SPE names either).
        source = graph.anchors.get(parent)
        if source is None and not _looks_like_event_id(parent):
            source = graph.cell(env, parent)
        if source is not None:
            graph.edge("mutated_into", source, mutation, env, role="parent")


def _kind_of(node_id: str) -> str:
    # Node ids are ``kind:key`` (module docstring).
    return node_id.split(":", 1)[0]


def _looks_like_event_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _annotate_scored_beam(graph: _Graph, env: Envelope, beam_node: str | None) -> None:
    """SQI's score and decision describe the collapse beam they were computed from."""
    if beam_node is None or beam_node not in graph.nodes:
        return
    attrs = graph.nodes[beam_node]["attrs"]
    payload = env.payload
    if env.type == "SQIScore":
        for key in ("qscore", "goal_match_score", "drift", "entropy_delta"):
            if payload.get(key) is not None:
                attrs.setdefault(key, payload[key])
    else:
        attrs.setdefault("allowed", payload.get("allowed"))
        attrs.setdefault("policy_hash", payload.get("policy_hash"))
