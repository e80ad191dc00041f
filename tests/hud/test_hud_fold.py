"""The HUD read model on hand-made events: bins, re-reads, overflow, verdicts, graphs."""

from __future__ import annotations

import math
from typing import Any

from contracts.envelope import Envelope, utc_now
from contracts.payloads import (
    BeamEvent,
    EntanglementLink,
    PrecisionProfile,
    PrecisionResult,
    SoulLawDecision,
    SQIScore,
)
from contracts.registry import make_event
from hud.fold import VETO_WINDOW, HudFold, sqi_bin
from hud.views import entanglement_graph

RUN = "run-fold"


def _event(payload: Any, index: int, cell: str | None = None, run: str = RUN) -> Envelope:
    return make_event(payload, stage_id="test", index=index, sheet_run_id=run, cell_id=cell, occurred_at=utc_now())


def _score(cell: str, qscore: float, index: int) -> Envelope:
    return _event(SQIScore(timestamp=0.0, container_id="default", cell_id=cell, rewrite_success_prob=1.0,
                           stability=1.0, qscore=qscore), index, cell)


def _decision(cell: str, allowed: bool, index: int) -> Envelope:
    rules = [] if allowed else ["cfl_unstable"]
    return _event(SoulLawDecision(decision_id=f"d{index}", allowed=allowed, matched_rules=rules,
                                  reasons=[f"{r}: why" for r in rules], policy_hash="p", input_digest="i",
                                  cell_id=cell), index, cell)


def _link(members: list[str], index: int, run: str = RUN, links: list[list[str]] | None = None) -> Envelope:
    return _event(EntanglementLink(eid=f"eid::{run}::{index}", members=members, sheet_run_id=run,
                                   container_id="default", links=links or []), index, run=run)


def test_sqi_bins_cover_the_closed_unit_interval() -> None:
    assert [sqi_bin(q) for q in (0.0, 0.05, 0.1, 0.55, 0.99, 1.0)] == [0, 0, 1, 5, 9, 9]
    assert sqi_bin(math.nan) is None and sqi_bin(math.inf) is None


def test_rereading_a_batch_counts_nothing_twice() -> None:
    fold = HudFold()
    events = [(1, _score("a", 0.95, 0)), (2, _score("b", 0.42, 1))]
    for seq, env in events + events:
        fold.fold(seq, env)
    stats = fold.stats()
    assert stats["events"] == 2 and stats["sqi_count"] == 2
    assert stats["sqi_histogram"][9] == 1 and stats["sqi_histogram"][4] == 1


def test_verdicts_and_vetoes_follow_the_latest_decision() -> None:
    fold = HudFold()
    seq = 0
    for cell, allowed in [("a", True), ("b", False)] + [(f"c{i}", False) for i in range(VETO_WINDOW + 5)]:
        seq += 1
        fold.fold(seq, _decision(cell, allowed, seq))
    stats = fold.stats()
    assert stats["veto_count"] == VETO_WINDOW + 6
    assert len(stats["vetoes"]) == VETO_WINDOW
    assert stats["vetoes"][0]["cell"] == f"c{VETO_WINDOW + 4}", "newest veto first"
    outcome_a, outcome_b = fold.outcome(RUN, "a"), fold.outcome(RUN, "b")
    assert outcome_a is not None and outcome_a.decision == "approved"
    assert outcome_b is not None and outcome_b.decision == "vetoed" and outcome_b.reasons == ["cfl_unstable: why"]


def test_an_overflowing_precision_format_is_reported_as_null() -> None:
    fold = HudFold()
    results = [PrecisionResult(format="fp32", rel_error=0.0, time_s=0.1),
               PrecisionResult(format="fp8", rel_error=1e300, time_s=0.1),
               PrecisionResult(format="bf16", rel_error=2e-3, time_s=0.1)]
    fold.fold(1, _event(PrecisionProfile(opcode="lap", shape=[8, 8], results=results, recommended="fp32"), 0))
    assert fold.stats()["precision"] == {"lap": {"recommended": "fp32",
                                                 "errors": {"fp32": 0.0, "fp8": None, "bf16": 2e-3}}}


def test_graph_shows_one_run_with_its_pairs() -> None:
    fold = HudFold()
    fold.fold(1, _link(["x", "y", "z"], 1, links=[["x", "z"], ["y", "z"]]))
    fold.fold(2, _link(["w"], 2))
    fold.fold(3, _link(["p", "q"], 3, run="run-other"))  # no links recorded: members are chained
    fold.fold(4, _decision("x", True, 4))
    graph = entanglement_graph(fold, RUN)
    assert [n["id"] for n in graph["nodes"]] == ["w", "x", "y", "z"]
    assert [(e["source"], e["target"]) for e in graph["edges"]] == [("x", "z"), ("y", "z")]
    assert {n["id"]: n["decision"] for n in graph["nodes"]} == {"w": None, "x": "approved", "y": None, "z": None}
    other = entanglement_graph(fold, "run-other")
    assert [(e["source"], e["target"]) for e in other["edges"]] == [("p", "q")]
    assert fold.latest_run == "run-other"
    assert [e["eid"] for e in fold.eids()] == ["eid::run-other::3", f"eid::{RUN}::2", f"eid::{RUN}::1"]
    assert entanglement_graph(fold, None) == {"run": None, "nodes": [], "edges": []}


def _qwave_beam(run: str, index: int, runtime: dict[str, Any] | None) -> Envelope:
    return _event(BeamEvent(beam_id=f"q{index}", cell_id=f"c{index}", sheet_run_id=run, container_id="default",
                            eid=None, stage="qwave", token="Δ", result={"route": "qwave"}, timestamp="t",
                            runtime=runtime), index, f"c{index}", run)


def test_compile_cache_hits_and_misses_are_counted_per_run() -> None:
    fold = HudFold()
    first = [False, False, True]  # two structures compiled, one reused
    second = [True, True, True]  # the same sheet again compiles nothing
    for i, hit in enumerate(first):
        fold.fold(i + 1, _qwave_beam("run-1", i, {"cache_hit": hit, "compile_ms": 5.0, "batch_size": 1}))
    for i, hit in enumerate(second):
        fold.fold(i + 10, _qwave_beam("run-2", i, {"cache_hit": hit, "compile_ms": 0.0, "batch_size": 3}))
    fold.fold(20, _qwave_beam("run-2", 7, None))  # no runtime block: says nothing about the cache
    fold.fold(3, _qwave_beam("run-1", 9, {"cache_hit": False}))  # a re-read event is not counted again
    cache = fold.stats()["compile_cache"]
    assert cache["runs"] == {"run-1": {"hits": 1, "misses": 2}, "run-2": {"hits": 3, "misses": 0}}
    assert (cache["hits"], cache["misses"]) == (4, 2)
