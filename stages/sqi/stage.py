"""The SQI stage: score every collapsed beam, let SoulLaw decide, approve or veto it.

Contract (called once per input; may be retried — outputs are then identical,
ids from ``make_event``): for each ``BeamEvent(stage="collapse")`` on
``beamline.collapse`` it returns

* output 0 — ``SQIScore`` (scores, the renormalised weights, ``basin_id``, ``fork``),
* output 1 — ``SoulLawDecision`` (``policy_hash`` and ``input_digest`` recorded),
* output 2 — ``BeamEvent(stage="approved")`` or ``BeamEvent(stage="vetoed")`` whose
  result is the collapse result plus ``score``, ``decision`` and, when vetoed,
  ``veto_reasons``.

A PHASE9 fork gets outputs 0 and 1 at once; output 2 of every fork of the cell is
emitted (each with its own fork's collapse beam as parent) by the handler that
first finds all forks in the store (``stages.sqi.forks``).

With the flag ``stage.sqi`` false the stage still runs (``handles_disabled``) and
vetoes every beam with the reason "SQI stage disabled" (no SQIScore; the vetoed
beam's ``score`` is empty) — nothing is approved unscored. Other inputs on the topic (CollapseTrace) produce nothing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from contracts.envelope import Envelope, deterministic_event_id
from contracts.payloads import BeamEvent, SoulLawDecision, SQIScore
from contracts.registry import digest, make_event
from stages.base import StageContext
from stages.sqi import forks
from stages.sqi.assess import Assessment, Assessor, disabled
from stages.sqi.context import RecordCache
from stages.sqi.soullaw import Policy, PredicateParser

SCORE_INDEX, DECISION_INDEX, VERDICT_INDEX = 0, 1, 2
RECENT_FORKS = 4096


@dataclass(frozen=True)
class _ForkMemo:
    envelope: Envelope
    summary: tuple[dict[str, Any], dict[str, Any]]


class SQIStage:
    stage_id = "sqi"
    input_topics = ("beamline.collapse",)
    handles_disabled = True

    def __init__(
        self,
        *,
        policy_path: str | Path | None = None,
        policy: Policy | None = None,
        parser: PredicateParser | None = None,
        budget_ms: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        trust: Any = None,
    ) -> None:
        """``trust``: the ``basin.keys.TrustStore`` whose keys may sign basin packets (default:
        the node's key directory, ``stages.sqi.context``)."""
        self.assessor = Assessor(
            policy_path=Path(policy_path) if policy_path is not None else None,
            policy=policy,
            parser=parser,
            budget_s=budget_ms / 1000.0 if budget_ms is not None else None,
            clock=clock,
            cache=RecordCache(trust=trust),
        )
        # Forks this instance handled recently, with the score and decision it emitted.
        # The runner persists a batch only after handling all of it, so a fork's siblings
        # in the same batch are not in the store yet; this read-through memo of inputs
        # (bounded, rebuilt by redelivery after a restart) bridges that gap. Outcomes do
        # not depend on it: it only lets the last fork see siblings the store will have.
        self._recent_forks: OrderedDict[str, _ForkMemo] = OrderedDict()

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        if envelope.type != "BeamEvent" or envelope.payload.get("stage") != "collapse":
            return []
        if not ctx.flags.get("stage.sqi", True):
            verdict = disabled(envelope)
            return [
                self._decision_event(envelope, verdict, ctx),
                self._verdict_event(envelope, None, _decision_summary(verdict),
                                    list(verdict.decision.reasons), ctx),
            ]
        assessment = self.assessor.assess(envelope, ctx)
        outputs = [self._score_event(envelope, assessment, ctx), self._decision_event(envelope, assessment, ctx)]
        if forks.fork_index(envelope) is None:
            outputs.append(self._verdict_event(
                envelope, _score_summary(assessment), _decision_summary(assessment),
                [] if assessment.decision.allowed else list(assessment.decision.reasons), ctx,
            ))
            return outputs
        return outputs + self._fork_verdicts(envelope, assessment, ctx)

    # ------------------------------------------------------------ forks

    def _fork_verdicts(self, envelope: Envelope, own: Assessment, ctx: StageContext) -> list[Envelope]:
        result = envelope.payload.get("result") or {}
        count = forks.fork_count(result)
        if count is None:
            reasons = [f"fork {forks.fork_index(envelope)} has no valid '{forks.FORK_COUNT_KEY}' in its result"]
            return [self._verdict_event(envelope, _score_summary(own), _decision_summary(own), reasons, ctx)]
        own_summary = (_score_summary(own), _decision_summary(own))
        self._remember(envelope, own_summary)
        if envelope.eid:
            stored = ctx.reader.events(eid=envelope.eid, types=["BeamEvent"])
        else:
            stored = ctx.reader.events(sheet_run_id=envelope.sheet_run_id, types=["BeamEvent"])
        memo = [m.envelope for m in self._recent_forks.values()]
        found = forks.siblings(envelope, [*stored, *memo])
        if len(found) < count:
            return []  # a later fork's handler will decide for all of them
        summaries: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for index, sibling in sorted(found.items()):
            if sibling.event_id == envelope.event_id:
                summaries[index] = own_summary
            elif sibling.event_id in self._recent_forks:
                summaries[index] = self._recent_forks[sibling.event_id].summary
            else:
                summaries[index] = self._recorded_or_fresh(sibling, ctx)
        outcomes = [
            forks.ForkOutcome(
                fork=index, qscore=float(score["qscore"]), allowed=bool(decision["allowed"]),
                reasons=tuple(decision["reasons"]),
            )
            for index, (score, decision) in summaries.items()
        ]
        verdicts = forks.select(outcomes, forks.fork_threshold(ctx.flags))
        return [
            self._verdict_event(
                found[v.fork], *summaries[v.fork], list(v.reasons), ctx,
                selection={"kept": v.approved, "forks": len(found)},
            )
            for v in verdicts
        ]

    def _remember(self, envelope: Envelope, summary: tuple[dict[str, Any], dict[str, Any]]) -> None:
        self._recent_forks[envelope.event_id] = _ForkMemo(envelope, summary)
        self._recent_forks.move_to_end(envelope.event_id)
        while len(self._recent_forks) > RECENT_FORKS:
            self._recent_forks.popitem(last=False)

    def _recorded_or_fresh(
        self, sibling: Envelope, ctx: StageContext
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A sibling fork's score and decision as recorded by its own handler, else recomputed."""
        score_id = deterministic_event_id(self.stage_id, sibling.event_id, SQIScore.TYPE, SCORE_INDEX)
        decision_id = deterministic_event_id(self.stage_id, sibling.event_id, SoulLawDecision.TYPE, DECISION_INDEX)
        recorded = {env.event_id: env for env in ctx.reader.events(event_ids=[score_id, decision_id])}
        if score_id in recorded and decision_id in recorded:
            score = recorded[score_id].payload
            decision = recorded[decision_id].payload
            return (
                {key: score.get(key) for key in _SCORE_KEYS},
                {key: decision.get(key) for key in _DECISION_KEYS},
            )
        fresh = self.assessor.assess(sibling, ctx)
        return _score_summary(fresh), _decision_summary(fresh)

    # ------------------------------------------------------------ events

    def _score_event(self, envelope: Envelope, a: Assessment, ctx: StageContext) -> Envelope:
        card = a.card
        payload = SQIScore(
            timestamp=ctx.now().timestamp(),
            container_id=envelope.container_id,
            cell_id=str(envelope.payload.get("cell_id")),
            goal_match_score=card.goal_match_score,
            rewrite_success_prob=card.rewrite_success_prob,
            entropy_delta=card.entropy_delta,
            drift=card.drift,
            stability=card.stability,
            qscore=card.qscore,
            weights=card.weights,
            basin_id=a.basin_id,
            fork=forks.fork_index(envelope),
        )
        return make_event(payload, stage_id=self.stage_id, index=SCORE_INDEX, parent=envelope,
                          occurred_at=ctx.now(), instance=ctx.instance)

    def _decision_event(self, envelope: Envelope, a: Assessment, ctx: StageContext) -> Envelope:
        d = a.decision
        payload = SoulLawDecision(
            decision_id=a.decision_id, allowed=d.allowed, matched_rules=list(d.matched_rules),
            reasons=list(d.reasons), policy_hash=d.policy_hash, input_digest=d.input_digest,
            cell_id=str(envelope.payload.get("cell_id")),
        )
        return make_event(payload, stage_id=self.stage_id, index=DECISION_INDEX, parent=envelope,
                          occurred_at=ctx.now(), instance=ctx.instance)

    def _verdict_event(
        self,
        collapse: Envelope,
        score: Mapping[str, Any] | None,
        decision: Mapping[str, Any],
        veto_reasons: list[str],
        ctx: StageContext,
        selection: Mapping[str, Any] | None = None,
    ) -> Envelope:
        approved = bool(decision.get("allowed")) and not veto_reasons
        stage: Literal["approved", "vetoed"] = "approved" if approved else "vetoed"
        beam = collapse.payload
        result: dict[str, Any] = {**(beam.get("result") or {}), "score": dict(score) if score is not None else {}, "decision": dict(decision)}
        if not approved:
            result["veto_reasons"] = veto_reasons or list(decision.get("reasons") or ["denied"])
        if selection is not None:
            result["fork_selection"] = dict(selection)
        payload = BeamEvent(
            beam_id=f"beam_{beam['cell_id']}_{stage}_{digest(collapse.event_id, 12)}",
            cell_id=beam["cell_id"],
            sheet_run_id=beam["sheet_run_id"],
            container_id=beam["container_id"],
            eid=beam.get("eid"),
            stage=stage,
            token=beam["token"],
            result=result,
            timestamp=ctx.now().isoformat(),
            generation=int(beam.get("generation", 0)),
        )
        return make_event(payload, stage_id=self.stage_id, index=VERDICT_INDEX, parent=collapse,
                          occurred_at=ctx.now(), instance=ctx.instance)


_SCORE_KEYS = ("goal_match_score", "rewrite_success_prob", "entropy_delta", "drift", "stability", "qscore",
               "weights", "basin_id")
_DECISION_KEYS = ("decision_id", "allowed", "matched_rules", "reasons", "policy_hash")


def _score_summary(a: Assessment) -> dict[str, Any]:
    return {**a.card.as_input(), "weights": dict(a.card.weights), "basin_id": a.basin_id}


def _decision_summary(a: Assessment) -> dict[str, Any]:
    d = a.decision
    return {
        "decision_id": a.decision_id, "allowed": d.allowed, "matched_rules": list(d.matched_rules),
        "reasons": list(d.reasons), "policy_hash": d.policy_hash,
    }
