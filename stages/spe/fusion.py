"""recombine_from_beams: fuse the best approved cells of an EID into one candidate cell.

The top-k approved beams by qscore (ties broken by cell id, so the choice is
deterministic) whose values have the same type and shape are superposed with ⊕ —
the CodexLang operation for "both at once, normalised". Beams of incompatible
types are never combined: the candidate must type-check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stages.codex.ast import Node

DEFAULT_TOP_K = 2


@dataclass(frozen=True)
class Fusion:
    parents: tuple[Mapping[str, Any], ...]  # the beams' payloads, best first
    fused: Node


def _rank_key(beam: Mapping[str, Any]) -> tuple[float, str]:
    score = beam["result"].get("score", {}).get("qscore", 0.0)
    return (-float(score), str(beam["cell_id"]))


def _signature(beam: Mapping[str, Any]) -> tuple[Any, ...]:
    result = beam["result"]
    kind = result.get("type") or {}
    return (tuple(result.get("shape") or ()), kind.get("kind"), kind.get("components"), kind.get("time"))


def recombine_from_beams(beams: Sequence[Mapping[str, Any]], top_k: int = DEFAULT_TOP_K) -> Fusion | None:
    """Superpose the top-k type-compatible approved beams; None if fewer than two qualify."""
    approved = sorted((b for b in beams if b.get("stage") == "approved"), key=_rank_key)
    if len(approved) < 2:
        return None
    lead = approved[0]
    chosen = [lead]
    seen_forms = {str(lead["result"]["normal_key"])}
    for beam in approved[1:]:
        if len(chosen) == top_k:
            break
        if _signature(beam) == _signature(lead) and str(beam["result"]["normal_key"]) not in seen_forms:
            chosen.append(beam)
            seen_forms.add(str(beam["result"]["normal_key"]))
    if len(chosen) < 2:
        return None
    fused = Node("oplus", tuple(Node.from_json(b["result"]["normal_form"]) for b in chosen))
    return Fusion(parents=tuple(chosen), fused=fused)
