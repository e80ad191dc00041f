"""Type name -> payload model, and the one mapper that encodes, decodes and upcasts."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from contracts.envelope import Envelope, Producer, deterministic_event_id
from contracts.payloads import ALL_PAYLOADS, Payload
from contracts.upcasters import upcast

REGISTRY: dict[str, type[Payload]] = {model.TYPE: model for model in ALL_PAYLOADS}
# Envelope fields in declaration order up to ``payload`` (``auth`` follows it, last).
_BEFORE_PAYLOAD = tuple(Envelope.model_fields)[: tuple(Envelope.model_fields).index("payload")]
if tuple(Envelope.model_fields)[len(_BEFORE_PAYLOAD):] != ("payload", "auth"):
    raise RuntimeError("envelope_json expects payload and auth to be the envelope's last fields")
MAX_MESSAGE_BYTES = 1024 * 1024


class ContractError(ValueError):
    """A message that cannot be decoded; ``reason`` is the dead-letter reason."""

    reason = "invalid_schema"


class MalformedMessage(ContractError):
    reason = "malformed"


class UnknownType(ContractError):
    reason = "unknown_type"


class FutureVersion(ContractError):
    reason = "future_version"


class TooLarge(ContractError):
    reason = "too_large"


class InvalidSchema(ContractError):
    reason = "invalid_schema"


def model_for(event_type: str) -> type[Payload]:
    try:
        return REGISTRY[event_type]
    except KeyError:
        raise UnknownType(f"unknown event type {event_type!r}") from None


# orjson refuses (TypeError) what it would write differently from pydantic's JSON mode
# (datetimes, dataclasses, subclasses of str/int/dict/list), as it does non-str keys and
# out-of-range ints: such a payload takes pydantic's path.
_NATIVE_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_PAYLOAD: set[str] = {"payload"}  # never mutated: what model_dump leaves out of the header
_ENVELOPE_JSON = Envelope.__pydantic_serializer__


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """``envelope.model_dump(mode="json")``, built cheaply.

    An envelope's payload is JSON data already when it came from ``make_event`` or a
    decoder (both hold ``model_dump(mode="json")`` of the payload model); pydantic would
    still walk it value by value as ``Any``. Here only the header goes through pydantic
    and the payload is taken as it is once orjson has written it without a conversion.
    """
    payload = envelope.payload
    try:
        orjson.dumps(payload, option=_NATIVE_ONLY)
    except TypeError:
        return envelope.model_dump(mode="json")
    header = envelope.model_dump(mode="json", exclude=_PAYLOAD)
    data = {key: header[key] for key in _BEFORE_PAYLOAD}
    data["payload"] = payload
    data["auth"] = header["auth"]
    return data


def encode(envelope: Envelope) -> bytes:
    """The envelope's message bytes: the JSON of ``model_dump(mode="json")``, written by pydantic's
    serializer in one pass (byte for byte what ``orjson.dumps`` of that dict gives: tested)."""
    return _ENVELOPE_JSON.to_json(envelope)


def canonical_json(data: Any) -> bytes:
    """Sorted-key compact JSON: the input of every content hash and digest."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def digest(data: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()[:length]


def decode(raw: bytes) -> Envelope:
    """Bytes -> validated envelope at the current schema version, or a ContractError."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedMessage("message is not a JSON object")
    return decode_dict(data)


def decode_dict(data: dict[str, Any]) -> Envelope:
    event_type = data.get("type")
    if not isinstance(event_type, str):
        raise InvalidSchema("envelope field 'type' is missing or not a string")
    model = model_for(event_type)
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidSchema("envelope field 'schema_version' must be a positive integer")
    if version > model.SCHEMA_VERSION:
        raise FutureVersion(f"{event_type} v{version} is newer than supported v{model.SCHEMA_VERSION}")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise InvalidSchema("envelope field 'payload' must be an object")
    try:
        lifted = upcast(event_type, version, model.SCHEMA_VERSION, payload)
    except KeyError as exc:
        raise InvalidSchema(str(exc)) from None
    try:
        validated = model.model_validate(lifted)
        envelope = Envelope.model_validate(
            {**data, "schema_version": model.SCHEMA_VERSION, "payload": validated.model_dump(mode="json")}
        )
    except ValidationError as exc:
        raise InvalidSchema(_first_errors(exc)) from None
    return envelope


def _first_errors(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        path = ".".join(str(p) for p in err["loc"])
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)


def payload_of(envelope: Envelope) -> Payload:
    """The typed payload of an already-validated envelope."""
    return model_for(envelope.type).model_validate(envelope.payload)


def make_event(
    payload: Payload,
    *,
    stage_id: str,
    index: int,
    parent: Envelope | None = None,
    container_id: str | None = None,
    sheet_run_id: str | None = None,
    eid: str | None = None,
    cell_id: str | None = None,
    flags_digest: str | None = None,
    occurred_at: datetime,
    instance: str = "0",
    id_key: str | None = None,
    causation_id: str | None = None,
) -> Envelope:
    """Build an output envelope. Ids, correlation and causation come from ``parent``.

    ``event_id`` is UUID5(stage_id, parent.event_id, type, index): the same input
    processed twice yields the same output ids.

    An output that is a function of a *set* of inputs (an EID's fusion, a run's motif)
    passes ``id_key`` — a stable description of that set — instead, so whichever input
    happens to trigger it, the event (and its id) is the same and the store dedupes it.
    ``causation_id`` then names the canonical parent explicitly.
    """
    causation = causation_id or (parent.event_id if parent is not None else None)
    if parent is None and sheet_run_id is None:
        raise ValueError("a root event needs sheet_run_id")
    run_id = sheet_run_id or (parent.sheet_run_id if parent else "")
    if id_key is not None:
        causation_key: str | None = f"set:{id_key}"
    elif causation is None:
        # A root event (e.g. SheetSubmitted) is keyed by its run id instead.
        causation_key = f"root:{run_id}"
    else:
        causation_key = causation
    return Envelope(
        event_id=deterministic_event_id(stage_id, causation_key, payload.TYPE, index),
        type=payload.TYPE,
        schema_version=payload.SCHEMA_VERSION,
        occurred_at=occurred_at,
        container_id=container_id or (parent.container_id if parent else "default"),
        sheet_run_id=run_id,
        eid=eid if eid is not None else (parent.eid if parent else None),
        cell_id=cell_id if cell_id is not None else (parent.cell_id if parent else None),
        correlation_id=run_id,
        causation_id=causation,
        producer=_producer(stage_id, instance),
        flags_digest=flags_digest if flags_digest is not None else (parent.flags_digest if parent else ""),
        payload=payload.model_dump(mode="json"),
    )


@functools.lru_cache(maxsize=256)
def _producer(stage_id: str, instance: str) -> Producer:
    # Frozen, and the same few (stage, instance) pairs for every event a process makes.
    return Producer(stage=stage_id, instance=instance)


def to_model(payload: BaseModel) -> dict[str, Any]:
    return payload.model_dump(mode="json")
