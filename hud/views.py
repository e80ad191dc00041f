"""JSON views of the HUD, computed from stored envelopes and the ``HudFold`` read model."""

from __future__ import annotations

import math
from typing import Any

from contracts.envelope import Envelope
from hud.fold import HudFold
from replay.timeline import key_fields, stage_of

LAYOUT_SEED = 7


def beam_row(seq: int, env: Envelope) -> dict[str, Any]:
    """One line of the live timeline (or one step of a GHX replay, where ``seq`` is the step)."""
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


def entanglement_graph(fold: HudFold, run: str | None) -> dict[str, Any]:
    """The cells of one run as nodes, one edge per ``↔`` pair, positions from a seeded networkx layout.

    Positions lie in [-1, 1]². Each node carries its EID and the cell's SQI verdict
    (qscore, approved/vetoed) when one is recorded. ``run`` None gives an empty graph.
    """
    import networkx as nx

    graph = nx.Graph()
    for entanglement in fold.run_entanglements(run) if run else []:
        for cell in entanglement.members:
            graph.add_node(cell, eid=entanglement.eid)
        for a, b in entanglement.links:
            graph.add_edge(a, b, eid=entanglement.eid)
    count = graph.number_of_nodes()
    # The default spring constant pulls a linked pair almost on top of each other;
    # a longer ideal distance keeps both labels readable.
    positions = nx.spring_layout(graph, seed=LAYOUT_SEED, k=3.5 / math.sqrt(count)) if count else {}
    nodes = []
    for cell in sorted(graph.nodes):
        outcome = fold.outcome(run, cell) if run else None
        nodes.append({
            "id": cell, "eid": graph.nodes[cell]["eid"],
            "x": float(positions[cell][0]), "y": float(positions[cell][1]),
            "qscore": outcome.qscore if outcome else None,
            "decision": outcome.decision if outcome else None,
        })
    edges = [{"source": a, "target": b, "eid": d["eid"]} for a, b, d in sorted(graph.edges(data=True))]
    return {"run": run, "nodes": nodes, "edges": edges}
