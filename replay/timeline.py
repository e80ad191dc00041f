"""An EID's (or a cell's) events as a timeline: one row per event with its key fields."""

from __future__ import annotations

from typing import Any

from contracts.envelope import Envelope

# The payload fields worth showing per event type, in display order.
_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "BeamEvent": ("stage", "token", "generation"),
    "SQIScore": ("qscore", "goal_match_score", "drift", "rewrite_success_prob"),
    "SoulLawDecision": ("allowed", "reasons"),
    "EntanglementLink": ("members",),
    "DNAMutation": ("mutation_id",),
    "PatternMotif": ("kind", "support", "canonical"),
    "PrecisionProfile": ("opcode", "recommended"),
    "StageError": ("stage",),
    "FlagChanged": ("name", "value"),
}
_RESULT_FIELDS = ("route", "normal_key", "rewrite_success_prob")


def key_fields(envelope: Envelope) -> dict[str, Any]:
    payload = envelope.payload
    shown = {name: payload[name] for name in _KEY_FIELDS.get(envelope.type, ()) if name in payload}
    result = payload.get("result")
    if isinstance(result, dict):
        shown.update({name: result[name] for name in _RESULT_FIELDS if result.get(name) is not None})
        observables = result.get("observables")
        if isinstance(observables, dict) and "norm" in observables:
            shown["norm"] = observables["norm"]
    if envelope.type == "DNAMutation":
        shown["reason"] = payload.get("metadata", {}).get("reason")
    return shown


def stage_of(envelope: Envelope) -> str:
    if envelope.type == "BeamEvent":
        return str(envelope.payload.get("stage"))
    return envelope.producer.stage


def timeline_rows(envelopes: list[Envelope]) -> list[dict[str, Any]]:
    return [
        {
            "time": env.occurred_at.isoformat(),
            "stage": stage_of(env),
            "cell": env.cell_id,
            "type": env.type,
            "event_id": env.event_id,
            "fields": key_fields(env),
        }
        for env in envelopes
    ]


def short(value: Any, width: int = 60) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
