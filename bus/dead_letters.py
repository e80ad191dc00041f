"""Dead letters: an undeliverable message becomes a ``DeadLetter`` event, kept byte for byte.

A dead letter names the reason (``malformed``, ``invalid_schema``,
``unknown_type``, ``future_version``, ``too_large``, ``handler_failed``,
``auth``), the error, the stage that gave up, the original topic and
key, and the original bytes (base64) so ``beamline dlq retry`` can re-publish them.
Its ``event_id`` is derived from (stage, topic, sha256 of the bytes): the same
message dead-lettered again after a redelivery is one event in the store.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

import orjson

from bus.base import Message
from contracts.envelope import Envelope, Producer, deterministic_event_id
from contracts.payloads import DeadLetter
from contracts.registry import MAX_MESSAGE_BYTES

#: A message over the size limit keeps only its head: the whole of it cannot travel again anyway.
KEPT_BYTES_OF_TOO_LARGE = 64 * 1024
MAX_ERROR_CHARS = 4000
UNKNOWN_CONTAINER = "default"
UNKNOWN_RUN = "unknown"


def _identity(value: bytes) -> dict[str, Any]:
    """Envelope identity fields readable from raw bytes that failed validation (best effort)."""
    if len(value) > MAX_MESSAGE_BYTES:
        return {}
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    fields = ("event_id", "container_id", "sheet_run_id", "eid", "cell_id")
    return {name: data[name] for name in fields if isinstance(data.get(name), str)}


def dead_letter_event(
    message: Message,
    *,
    reason: str,
    error: str,
    stage_id: str,
    instance: str,
    occurred_at: datetime,
    flags_digest: str,
    original: Envelope | None = None,
) -> Envelope:
    """The DeadLetter envelope for ``message``; ``original`` is its decoded form when it had one."""
    kept = message.value
    if reason == "too_large" and len(kept) > KEPT_BYTES_OF_TOO_LARGE:
        error = f"{error} (original truncated to its first {KEPT_BYTES_OF_TOO_LARGE} of {len(kept)} bytes)"
        kept = kept[:KEPT_BYTES_OF_TOO_LARGE]
    if original is not None:
        ident: dict[str, Any] = {
            "event_id": original.event_id,
            "container_id": original.container_id,
            "sheet_run_id": original.sheet_run_id,
            "eid": original.eid,
            "cell_id": original.cell_id,
        }
    else:
        ident = _identity(message.value)
    fingerprint = hashlib.sha256(message.value).hexdigest()[:32]
    run_id = ident.get("sheet_run_id") or UNKNOWN_RUN
    payload = DeadLetter(
        original_b64=base64.b64encode(kept).decode("ascii"),
        topic=message.topic,
        key=message.key,
        error=error[:MAX_ERROR_CHARS],
        reason=reason,  # type: ignore[arg-type]  # validated by the model
        stage=stage_id,
    )
    return Envelope(
        event_id=deterministic_event_id(stage_id, f"dlq:{message.topic}:{fingerprint}", DeadLetter.TYPE, 0),
        type=DeadLetter.TYPE,
        schema_version=DeadLetter.SCHEMA_VERSION,
        occurred_at=occurred_at,
        container_id=ident.get("container_id") or UNKNOWN_CONTAINER,
        sheet_run_id=run_id,
        eid=ident.get("eid"),
        cell_id=ident.get("cell_id"),
        correlation_id=run_id,
        causation_id=ident.get("event_id"),
        producer=Producer(stage=stage_id, instance=instance),
        flags_digest=flags_digest,
        payload=payload.model_dump(mode="json"),
    )


def original_of(dead_letter: Envelope) -> tuple[str, str | None, bytes]:
    """(topic, key, bytes) to re-publish a dead letter; refuses a truncated too-large one."""
    if dead_letter.type != DeadLetter.TYPE:
        raise ValueError(f"event {dead_letter.event_id} is a {dead_letter.type}, not a DeadLetter")
    letter = DeadLetter.model_validate(dead_letter.payload)
    if letter.reason == "too_large":
        raise ValueError(f"dead letter {dead_letter.event_id} exceeded the size limit and cannot be retried")
    return letter.topic, letter.key, base64.b64decode(letter.original_b64)
