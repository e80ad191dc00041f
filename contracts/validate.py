"""Validate foreign JSON against the checked-in JSON Schemas (``jsonschema``), every error with its path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from contracts.schemagen import SCHEMA_DIR


@dataclass(frozen=True)
class SchemaProblem:
    path: str  # JSON path like $.payload.stage
    message: str


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_message(data: Any) -> list[SchemaProblem]:
    """All schema problems of one message (empty when valid)."""
    if not isinstance(data, dict):
        return [SchemaProblem("$", "message must be a JSON object")]
    event_type = data.get("type")
    if not isinstance(event_type, str):
        return [SchemaProblem("$.type", "missing or not a string")]
    schema_path = SCHEMA_DIR / f"{event_type}.json"
    if not schema_path.exists():
        return [SchemaProblem("$.type", f"unknown event type {event_type!r}")]
    validator = Draft202012Validator(orjson.loads(schema_path.read_bytes()))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    return [SchemaProblem(_json_path(e.absolute_path), e.message) for e in errors]


def validate_bytes(raw: bytes) -> list[SchemaProblem]:
    """A file holds one JSON object, a JSON array of them, or JSON lines."""
    problems: list[SchemaProblem] = []
    try:
        docs = [orjson.loads(raw)]
    except orjson.JSONDecodeError:
        try:
            docs = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        except orjson.JSONDecodeError as exc:
            return [SchemaProblem("$", f"not JSON: {exc}")]
    if len(docs) == 1 and isinstance(docs[0], list):
        docs = docs[0]
    for index, doc in enumerate(docs):
        prefix = f"[{index}]" if len(docs) > 1 else ""
        problems.extend(SchemaProblem(prefix + p.path, p.message) for p in validate_message(doc))
    return problems
