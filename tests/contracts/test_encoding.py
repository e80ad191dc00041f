"""``encode`` / ``envelope_json`` take a shortcut around pydantic's payload walk; the bytes and the
dict must stay exactly what ``model_dump(mode="json")`` gives, whatever the payload holds."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from contracts.envelope import Envelope, Producer
from contracts.payloads import BeamEvent
from contracts.registry import decode, encode, envelope_json, make_event
from store.rows import to_row

AT = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


class Colour(enum.Enum):
    RED = "red"


class Name(str):
    """A str subclass: orjson would refuse it in native mode, pydantic writes the plain string."""


def envelope(payload: dict[str, Any], auth: str | None = None) -> Envelope:
    return Envelope(event_id="e1", type="BeamEvent", schema_version=2, occurred_at=AT, container_id="c",
                    sheet_run_id="r", eid=None, cell_id="a", correlation_id="r", causation_id="p",
                    producer=Producer(stage="photon", instance="3"), flags_digest="d", payload=payload, auth=auth)


def made() -> Envelope:
    beam = BeamEvent(beam_id="b", cell_id="a", sheet_run_id="r", container_id="c", eid="eid::1", stage="rewrite",
                     token="Δ", result={"normal_form": {"op": "lap", "args": [1.5, None, "u"]}, "cost": 3},
                     timestamp="t", latency_ms=0.25)
    return make_event(beam, stage_id="photon", index=0, sheet_run_id="r", occurred_at=AT)


PAYLOADS: list[dict[str, Any]] = [
    {"nested": {"list": [1, 2.5, "x", None, True], "deep": {"k": [{"a": -1}]}}, "unicode": "∇·∇u ↔"},
    {"when": datetime(2026, 1, 1, tzinfo=UTC)},  # pydantic writes ...Z, orjson +00:00: pydantic's path
    {"id": uuid.UUID("6f1c7a52-2b8e-5c43-9d0a-8b7e3f1d2c10")},
    {"colour": Colour.RED},
    {"pair": (1, 2)},
    {"nan": float("nan"), "inf": float("inf")},
    {"raw": b"bytes"},
    {"floats": [0.1, 1.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 2.0**53, 1e21, 1e22, 1 / 3]},
    {"text": "\x00\x01\x08\x0c\x1f\x7f\u2028\u2029\"\\/ é ∇ 😀"},
    {"ints": [2**63 - 1, -(2**63), 0]},
    {"name": Name("sub")},
    {},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: ",".join(p) or "empty")
@pytest.mark.parametrize("auth", [None, "tag"])
def test_encode_and_row_are_exactly_what_pydantic_dumps(payload: dict[str, Any], auth: str | None) -> None:
    env = envelope(payload, auth)
    reference = env.model_dump(mode="json")
    assert encode(env) == orjson.dumps(reference)
    data = envelope_json(env)
    assert orjson.dumps(data) == orjson.dumps(reference) and list(data) == list(reference)
    row = to_row(env)
    stored = {**row["header"], "payload": row["payload"]}
    assert orjson.dumps(stored, option=orjson.OPT_SORT_KEYS) == orjson.dumps(reference, option=orjson.OPT_SORT_KEYS)


def test_a_made_event_round_trips_through_its_bytes() -> None:
    env = made()
    assert encode(env) == orjson.dumps(env.model_dump(mode="json"))
    assert decode(encode(env)) == env


@pytest.mark.parametrize("seed", range(4))
def test_event_ids_are_the_uuid5_of_their_name(seed: int) -> None:
    import random

    from contracts.envelope import EVENT_NAMESPACE, deterministic_event_id

    rng = random.Random(seed)
    for _ in range(500):
        stage = rng.choice(["codex", "photon", "spe", "∇stage", ""])
        causation = rng.choice([None, "", str(uuid.UUID(int=rng.getrandbits(128))), "set:fusion|a|b", "root:run-1"])
        kind, index = rng.choice(["BeamEvent", "DNAMutation"]), rng.randrange(10**6)
        name = f"{stage}|{causation or '-'}|{kind}|{index}"
        assert deterministic_event_id(stage, causation, kind, index) == str(uuid.uuid5(EVENT_NAMESPACE, name))
