"""The envelope every message and every stored row carries, separate from its payload.

``event_id`` is deterministic — a UUID5 of (stage_id, causation_id, output type,
output index) — so processing the same input twice yields the same ids and the
store's unique key turns at-least-once delivery into exactly-once effects.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Fixed namespace so ids are stable across processes, machines and releases.
EVENT_NAMESPACE = uuid.UUID("6f1c7a52-2b8e-5c43-9d0a-8b7e3f1d2c10")
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


class Producer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    instance: str = "0"


class Envelope(BaseModel):
    """One event. ``payload`` holds the type's model as plain JSON data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: datetime
    container_id: str
    sheet_run_id: str
    eid: str | None = None
    cell_id: str | None = None
    correlation_id: str
    causation_id: str | None = None
    producer: Producer
    flags_digest: str = ""
    payload: dict[str, Any]
    auth: str | None = None


def deterministic_event_id(stage_id: str, causation_id: str | None, event_type: str, index: int) -> str:
    """UUID5 of (stage_id, causation_id, type, index): the same input always yields the same id.

    ``str(uuid.uuid5(EVENT_NAMESPACE, name))`` written out (RFC 4122 §4.3: SHA-1 of namespace
    and name, version and variant bits set), without building a ``UUID`` object on the way:
    every event pays for this.
    """
    name = f"{stage_id}|{causation_id or '-'}|{event_type}|{index}"
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utc_now() -> datetime:
    return datetime.now(UTC)
