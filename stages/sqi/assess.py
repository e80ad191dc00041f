"""Score one collapse beam and run SoulLaw on it: the pure core of the SQI stage.

``assess`` turns a collapse envelope into an ``Assessment`` (scores, decision,
the basin and policy versions used). Every failure on the way — the run record
or basin not in the store, a score that cannot be computed, a missing or broken
policy, a rule that raises, a time-out — ends in a *denied* decision whose
reasons say why: SoulLaw fails closed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import digest
from stages.base import StageContext
from stages.sqi.context import ContextError, RecordCache, beam_drift
from stages.sqi.scores import ScoreCard, score_beam
from stages.sqi.soullaw import (
    DEFAULT_BUDGET_S,
    UNAVAILABLE_HASH,
    Decision,
    Policy,
    PolicyError,
    PredicateParser,
    decide,
    deny,
    load_policy,
)

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[2] / "soullaw.toml"
POLICY_FILENAME = "soullaw.toml"
POLICY_FLAG = "SOULLAW_POLICY"
BUDGET_FLAG = "SOULLAW_BUDGET_MS"


@dataclass
class Assessment:
    card: ScoreCard
    decision: Decision
    decision_id: str
    basin_id: str | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Assessor:
    """Holds the configuration of a stage instance (never per-beam state)."""

    policy_path: Path | None = None
    policy: Policy | None = None
    parser: PredicateParser | None = None
    budget_s: float | None = None
    clock: Callable[[], float] = time.perf_counter
    cache: RecordCache = field(default_factory=RecordCache)

    def load(self, flags: Mapping[str, Any]) -> Policy:
        """The policy in force: a given ``Policy``, else the file named by the stage option,
        the ``SOULLAW_POLICY`` flag, or the default file (``default_policy_path``)."""
        if self.policy is not None:
            return self.policy
        configured = self.policy_path or flags.get(POLICY_FLAG)
        path = Path(str(configured)) if configured else default_policy_path()
        return load_policy(path, parse=self.parser)

    def budget(self, flags: Mapping[str, Any]) -> float:
        if self.budget_s is not None:
            return self.budget_s
        raw = flags.get(BUDGET_FLAG)
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw) and raw > 0:
            return float(raw) / 1000.0
        return DEFAULT_BUDGET_S

    def assess(self, envelope: Envelope, ctx: StageContext) -> Assessment:
        payload = envelope.payload
        result: Mapping[str, Any] = payload.get("result") or {}
        problems: list[str] = []
        identity: str | None = None
        basin_id: str | None = None
        drift: float | None = None
        try:
            record = self.cache.run_record(ctx.reader, envelope)
            identity = record.get("identity")
            basin_id = record.get("basin_id")
            if basin_id:
                vector = self.cache.basin(ctx.reader, envelope.container_id, basin_id)
                drift = beam_drift(result, vector)
        except ContextError as exc:
            problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a drift that cannot be computed must deny, not crash
            problems.append(f"drift could not be computed: {type(exc).__name__}: {exc}")
        card = score_beam(result, drift=drift, flags=ctx.flags)
        problems.extend(card.problems)
        decision_input = {
            "beam": _beam_view(envelope),
            "score": card.as_input(),
            "cost": dict(result.get("cost") or {}),
            "flags": dict(ctx.flags),
            "identity": identity,
        }
        input_digest = digest(decision_input, 64)
        try:
            policy = self.load(ctx.flags)
        except PolicyError as exc:
            decision = deny(f"policy unavailable: {exc}", policy_hash=UNAVAILABLE_HASH, input_digest=input_digest)
        else:
            decision = decide(
                policy, decision_input, input_digest=input_digest, budget_s=self.budget(ctx.flags),
                clock=self.clock,
            )
        if problems:
            decision = _with_problems(decision, problems)
        return Assessment(
            card=card, decision=decision, basin_id=basin_id,
            decision_id=decision_id(envelope, decision), notes=problems,
        )


def default_policy_path() -> Path:
    """``soullaw.toml`` at the repository root (a source checkout or editable install),
    else in the working directory (an installed package run from a project directory).
    When neither exists the repository path is returned and loading it fails closed."""
    if DEFAULT_POLICY_PATH.is_file():
        return DEFAULT_POLICY_PATH
    local = Path.cwd() / POLICY_FILENAME
    return local if local.is_file() else DEFAULT_POLICY_PATH


def disabled(envelope: Envelope) -> Assessment:
    """The SQI stage is switched off: nothing is scored and the beam is vetoed."""
    reason = "SQI stage disabled"
    input_digest = digest({"beam": _beam_view(envelope), "disabled": True}, 64)
    decision = deny(reason, policy_hash=UNAVAILABLE_HASH, input_digest=input_digest)
    card = ScoreCard(
        goal_match_score=None, rewrite_success_prob=0.0, entropy_delta=None, drift=None,
        stability=0.0, qscore=0.0, weights={}, problems=[reason],
    )
    return Assessment(card=card, decision=decision, basin_id=None, decision_id=decision_id(envelope, decision))


def decision_id(envelope: Envelope, decision: Decision) -> str:
    """Deterministic: the same beam, policy and input always give the same decision id."""
    material = {"beam": envelope.event_id, "policy": decision.policy_hash, "input": decision.input_digest}
    return "sld_" + digest(material, 32)


def _with_problems(decision: Decision, problems: list[str]) -> Decision:
    extra = [f"score incomplete: {p}" for p in problems]
    return Decision(
        allowed=False, matched_rules=decision.matched_rules, reasons=decision.reasons + extra,
        policy_hash=decision.policy_hash, input_digest=decision.input_digest,
        errors=decision.errors + extra,
    )


def _beam_view(envelope: Envelope) -> dict[str, Any]:
    """The ``beam`` mapping rules see: the collapse result plus the beam's identity fields."""
    payload = envelope.payload
    view: dict[str, Any] = {
        "cell_id": payload.get("cell_id"), "eid": payload.get("eid"), "token": payload.get("token"),
        "generation": payload.get("generation", 0), "sheet_run_id": payload.get("sheet_run_id"),
        "container_id": payload.get("container_id"),
    }
    view.update(payload.get("result") or {})
    return view
