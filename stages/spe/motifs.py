"""Motif mining: canonical subtrees shared by cells, fixed-point attractors, entanglement topology.

Motifs are mined over the normal forms of one sheet run's cells. That set is fixed
once Codex has emitted the run's ingest beams, so whichever beam triggers the
mining, the motifs (and their event ids) are the same — replay reproduces them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

from stages.codex.ast import Node

MIN_SUBTREE_SIZE = 3
DEFAULT_MIN_SUPPORT = 3
ATTRACTOR_EPSILON = 1e-6


def subtree_size(node: Node) -> int:
    return sum(1 for _ in node.walk())


def canonical_hash(node: Node) -> str:
    blob = orjson.dumps(node.to_json(), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(blob, digest_size=10).hexdigest()


def subtrees(node: Node, min_size: int = MIN_SUBTREE_SIZE) -> dict[str, Node]:
    """Every distinct subtree of at least ``min_size`` nodes, keyed by canonical hash."""
    found: dict[str, Node] = {}
    for sub in node.walk():
        if subtree_size(sub) >= min_size:
            found.setdefault(canonical_hash(sub), sub)
    return found


@dataclass(frozen=True)
class SubtreeMotif:
    motif_hash: str
    subtree: Node
    cells: tuple[str, ...]  # cells containing it, sorted

    @property
    def support(self) -> int:
        return len(self.cells)


def mine_subtree_motifs(
    normal_forms: Mapping[str, Node], min_support: int = DEFAULT_MIN_SUPPORT
) -> list[SubtreeMotif]:
    """Subtrees (size ≥ 3) present in at least ``min_support`` distinct cells.

    A subtree nested inside a larger motif with the same support is dropped: the
    larger one says more (``∇u ⊗ ∇u`` rather than also ``∇u`` twice over).
    """
    holders: dict[str, set[str]] = {}
    by_hash: dict[str, Node] = {}
    for cell_id, form in normal_forms.items():
        for motif_hash, sub in subtrees(form).items():
            holders.setdefault(motif_hash, set()).add(cell_id)
            by_hash.setdefault(motif_hash, sub)
    frequent = {h: cells for h, cells in holders.items() if len(cells) >= min_support}
    maximal: list[SubtreeMotif] = []
    for motif_hash, cells in frequent.items():
        sub = by_hash[motif_hash]
        inside_bigger = any(
            other != motif_hash
            and frequent[other] == cells
            and motif_hash in subtrees(by_hash[other])
            for other in frequent
        )
        if not inside_bigger:
            maximal.append(SubtreeMotif(motif_hash, sub, tuple(sorted(cells))))
    return sorted(maximal, key=lambda m: (-m.support, -subtree_size(m.subtree), m.motif_hash))


def is_attractor(attractor_info: Mapping[str, object] | None, epsilon: float = ATTRACTOR_EPSILON) -> bool:
    """An evolve cell whose last step moved less than ε is at a fixed point."""
    if not attractor_info:
        return False
    step = attractor_info.get("last_step_norm")
    return isinstance(step, (int, float)) and float(step) < epsilon


@dataclass(frozen=True)
class Topology:
    components: list[list[str]]
    cycles: list[list[str]]


def entanglement_topology(links: Iterable[tuple[str, str]]) -> Topology:
    """Connected components and cycles of the entanglement graph (networkx)."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_edges_from(links)
    components = sorted(sorted(c) for c in nx.connected_components(graph))
    cycles = sorted(sorted(c) for c in nx.cycle_basis(graph))
    return Topology(components=components, cycles=cycles)
