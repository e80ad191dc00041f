"""The one mapper between envelopes and ``events`` rows.

Writing keeps the envelope exactly as ``model_dump(mode="json")`` gives it (header
and payload columns). Reading goes through ``contracts.registry.decode_dict``, so
a row written at an older ``schema_version`` is upcast step by step and validated
before anyone sees it: replay of old events works after a contract moves on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import decode_dict, envelope_json


def stage_of(envelope: Envelope) -> str:
    """A BeamEvent's own stage (ingest, rewrite, ...); for any other type the producer stage."""
    if envelope.type == "BeamEvent":
        stage = envelope.payload.get("stage")
        if isinstance(stage, str):
            return stage
    return envelope.producer.stage


def utc_naive(moment: datetime) -> datetime:
    """The instant in UTC without zone: comparable in SQLite and PostgreSQL alike."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_row(envelope: Envelope) -> dict[str, Any]:
    """Column values of the ``events`` row holding ``envelope`` (``seq`` is assigned by the store)."""
    header = envelope_json(envelope)
    payload = header.pop("payload")
    return {
        "event_id": envelope.event_id,
        "type": envelope.type,
        "schema_version": envelope.schema_version,
        "stage": stage_of(envelope),
        "eid": envelope.eid,
        "cell_id": envelope.cell_id,
        "sheet_run_id": envelope.sheet_run_id,
        "container_id": envelope.container_id,
        "occurred_at": utc_naive(envelope.occurred_at),
        "causation_id": envelope.causation_id,
        "producer": envelope.producer.stage,
        "header": header,
        "payload": payload,
    }


def from_row(header: dict[str, Any], payload: dict[str, Any]) -> Envelope:
    """The envelope a row holds, upcast to the current schema version (ContractError if it cannot be)."""
    return decode_dict({**header, "payload": payload})


def entanglement_rows(envelope: Envelope) -> list[dict[str, Any]]:
    """``entanglements`` rows for an EntanglementLink event (none for other types)."""
    if envelope.type != "EntanglementLink":
        return []
    eid = envelope.payload.get("eid") or envelope.eid
    members = envelope.payload.get("members") or []
    run = envelope.payload.get("sheet_run_id") or envelope.sheet_run_id
    return [
        {"eid": eid, "cell_id": cell, "position": index, "sheet_run_id": run, "event_id": envelope.event_id}
        for index, cell in enumerate(members)
    ]
