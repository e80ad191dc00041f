"""The HUD's read model: a fold over stored events in ``seq`` order.

``HudFold`` is fed every event once (``fold``), so the HUD's views cost a read of
the events stored since the last request, not a scan of the whole store. It only
reads envelopes; nothing here writes anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import Envelope

SQI_BINS = 10
# Vetoes kept for the panel (newest last); older ones are still counted.
VETO_WINDOW = 50
# stages/qwave/precision.py caps a non-finite relative error at this value.
PRECISION_ERROR_CAP = 1e300


@dataclass
class Entanglement:
    """One EID as its EntanglementLink recorded it."""

    eid: str
    run: str
    seq: int
    members: list[str]
    links: list[tuple[str, str]]


@dataclass
class CellOutcome:
    """The latest SQI verdict of one cell of one run."""

    qscore: float | None = None
    decision: str | None = None  # "approved" | "vetoed"
    reasons: list[str] = field(default_factory=list)


@dataclass
class OpcodeCost:
    cells: int = 0
    flops: float = 0.0
    latency_ms: float = 0.0


@dataclass
class CacheCounts:
    """QWave compile-cache lookups of one run, from its qwave beams' ``runtime.cache_hit``."""

    hits: int = 0
    misses: int = 0


def sqi_bin(qscore: float, bins: int = SQI_BINS) -> int | None:
    """Histogram bin of a qscore in [0, 1] (1 falls in the last bin); None when not finite."""
    if not math.isfinite(qscore):
        return None
    return min(bins - 1, max(0, int(qscore * bins)))


class HudFold:
    """Everything the HUD panels show, updated one event at a time.

    Contract: call ``fold(seq, envelope)`` with strictly increasing ``seq``;
    an event with ``seq <= after_seq`` is ignored, so re-reading a batch is harmless.
    """

    def __init__(self) -> None:
        self.after_seq = 0
        self.event_count = 0
        self.latest_run: str | None = None
        self.entanglements: dict[str, Entanglement] = {}
        self.outcomes: dict[tuple[str, str], CellOutcome] = {}
        self.opcodes: dict[str, OpcodeCost] = {}
        self.sqi_histogram = [0] * SQI_BINS
        self.sqi_count = 0
        self.veto_count = 0
        self.vetoes: list[dict[str, Any]] = []
        self.precision: dict[str, dict[str, Any]] = {}
        self.compile_cache: dict[str, CacheCounts] = {}

    def fold(self, seq: int, env: Envelope) -> None:
        if seq <= self.after_seq:
            return
        self.after_seq = seq
        self.event_count += 1
        payload = env.payload
        run = env.sheet_run_id
        if env.type == "EntanglementLink":
            self._entangle(seq, run, payload)
        elif env.type == "BeamEvent" and payload.get("stage") in ("rewrite", "qwave"):
            self._cost(payload)
            if payload["stage"] == "qwave":
                self._cache(run, payload)
        elif env.type == "SQIScore":
            qscore = float(payload["qscore"])
            self._outcome(run, str(payload["cell_id"])).qscore = qscore
            self.sqi_count += 1
            index = sqi_bin(qscore)
            if index is not None:
                self.sqi_histogram[index] += 1
        elif env.type == "SoulLawDecision":
            self._decide(run, env, payload)
        elif env.type == "PrecisionProfile":
            self.precision[str(payload["opcode"])] = {
                "recommended": payload["recommended"],
                "errors": {r["format"]: _finite_error(float(r["rel_error"])) for r in payload["results"]},
            }

    def _entangle(self, seq: int, run: str, payload: dict[str, Any]) -> None:
        members = [str(m) for m in payload["members"]]
        links = [(str(a), str(b)) for a, b in payload.get("links") or []]
        if not links:
            # An EntanglementLink without its ``↔`` pairs still binds its members: chain them.
            links = list(zip(members, members[1:], strict=False))
        self.entanglements[str(payload["eid"])] = Entanglement(str(payload["eid"]), run, seq, members, links)
        self.latest_run = run

    def _cost(self, payload: dict[str, Any]) -> None:
        row = self.opcodes.setdefault(str(payload.get("token")), OpcodeCost())
        if payload["stage"] == "rewrite":
            row.cells += 1
            flops = (payload["result"].get("cost_after") or {}).get("flops")
            row.flops += float(flops or 0.0)
        row.latency_ms += float(payload.get("latency_ms") or 0.0)

    def _cache(self, run: str, payload: dict[str, Any]) -> None:
        hit = (payload.get("runtime") or {}).get("cache_hit")
        if isinstance(hit, bool):  # a beam without a runtime block says nothing about the cache
            counts = self.compile_cache.setdefault(run, CacheCounts())
            counts.hits += hit
            counts.misses += not hit

    def _outcome(self, run: str, cell: str) -> CellOutcome:
        return self.outcomes.setdefault((run, cell), CellOutcome())

    def _decide(self, run: str, env: Envelope, payload: dict[str, Any]) -> None:
        cell = str(payload["cell_id"])
        outcome = self._outcome(run, cell)
        outcome.decision = "approved" if payload["allowed"] else "vetoed"
        outcome.reasons = [str(r) for r in payload["reasons"]]
        if payload["allowed"]:
            return
        self.veto_count += 1
        self.vetoes.append({"cell": cell, "run": run, "eid": env.eid, "reasons": outcome.reasons,
                            "rules": list(payload.get("matched_rules") or [])})
        del self.vetoes[:-VETO_WINDOW]

    # ------------------------------------------------------------------ views

    def eids(self) -> list[dict[str, Any]]:
        """Every EID, newest first, with its run and members."""
        ordered = sorted(self.entanglements.values(), key=lambda e: e.seq, reverse=True)
        return [{"eid": e.eid, "run": e.run, "members": e.members} for e in ordered]

    def run_entanglements(self, run: str) -> list[Entanglement]:
        return sorted((e for e in self.entanglements.values() if e.run == run), key=lambda e: e.seq)

    def outcome(self, run: str, cell: str) -> CellOutcome | None:
        return self.outcomes.get((run, cell))

    def stats(self) -> dict[str, Any]:
        """Cost and latency per opcode, precision profile, SQI distribution, vetoes with reasons,
        QWave compile-cache hits/misses (all runs and per run)."""
        return {
            "events": self.event_count,
            "latest_run": self.latest_run,
            "opcodes": {op: vars(cost).copy() for op, cost in sorted(self.opcodes.items())},
            "sqi_histogram": list(self.sqi_histogram),
            "sqi_count": self.sqi_count,
            "veto_count": self.veto_count,
            "vetoes": list(reversed(self.vetoes)),
            "precision": dict(sorted(self.precision.items())),
            "compile_cache": {
                "hits": sum(c.hits for c in self.compile_cache.values()),
                "misses": sum(c.misses for c in self.compile_cache.values()),
                "runs": {run: vars(c).copy() for run, c in self.compile_cache.items()},
            },
        }


def _finite_error(error: float) -> float | None:
    """A relative error, or None when the format overflowed (JSON has no infinity)."""
    return error if math.isfinite(error) and error < PRECISION_ERROR_CAP else None
