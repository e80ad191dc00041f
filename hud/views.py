"""Read models the HUD shows, computed from stored events (pure functions of envelopes)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from contracts.envelope import Envelope
from replay.timeline import key_fields, stage_of


def beam_row(seq: int, env: Envelope) -> dict[str, Any]:
    """One line of the live timeline."""
    return {
        "seq": seq,
        "time": env.occurred_at.isoformat(),
        "type": env.type,
        "stage": stage_of(env),
        "cell": env.cell_id,
        "eid": env.eid,
        "run": env.sheet_run_id,
        "fields": {k: v for k, v in key_fields(env).items() if isinstance(v, (str, int, float, bool))},
    }


def entanglement_graph(eid_members: dict[str, list[str]]) -> dict[str, Any]:
    """Cells as nodes, one edge per entangled pair, positions from a seeded networkx layout."""
    import networkx as nx

    graph = nx.Graph()
    for eid, members in eid_members.items():
        for cell in members:
            graph.add_node(cell, eid=eid)
        for a, b in zip(members, members[1:], strict=False):
            graph.add_edge(a, b, eid=eid)
    positions = nx.spring_layout(graph, seed=7) if graph.number_of_nodes() else {}
    return {
        "nodes": [
            {"id": n, "eid": graph.nodes[n]["eid"], "x": float(positions[n][0]), "y": float(positions[n][1])}
            for n in sorted(graph.nodes)
        ],
        "edges": [{"source": a, "target": b, "eid": d["eid"]} for a, b, d in sorted(graph.edges(data=True))],
    }


def _histogram(values: list[float], bins: int = 10) -> list[int]:
    counts = [0] * bins
    for v in values:
        if math.isfinite(v):
            counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return counts


def stats(events: Iterable[Envelope]) -> dict[str, Any]:
    """Cost and latency per opcode, precision profile, SQI distribution, vetoes with reasons."""
    per_opcode: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "flops": 0.0, "latency_ms": 0.0})
    qscores: list[float] = []
    vetoes: list[dict[str, Any]] = []
    precision: dict[str, dict[str, Any]] = {}
    for env in events:
        payload = env.payload
        if env.type == "BeamEvent" and payload.get("stage") in ("rewrite", "qwave"):
            row = per_opcode[str(payload.get("token"))]
            if payload["stage"] == "rewrite":
                row["count"] += 1
                flops = (payload["result"].get("cost_after") or {}).get("flops", 0.0)
                row["flops"] += float(flops or 0.0)
            row["latency_ms"] += float(payload.get("latency_ms") or 0.0)
        elif env.type == "SQIScore":
            qscores.append(float(payload["qscore"]))
        elif env.type == "SoulLawDecision" and not payload["allowed"]:
            vetoes.append({"cell": payload["cell_id"], "reasons": payload["reasons"], "eid": env.eid})
        elif env.type == "PrecisionProfile":
            precision[str(payload["opcode"])] = {
                "recommended": payload["recommended"],
                "errors": {r["format"]: r["rel_error"] for r in payload["results"]},
            }
    return {
        "opcodes": dict(sorted(per_opcode.items())),
        "sqi_histogram": _histogram(qscores),
        "sqi_count": len(qscores),
        "vetoes": vetoes,
        "precision": precision,
    }
