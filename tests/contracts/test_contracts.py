"""Contracts: deterministic ids, codec round trip, upcasting, schema drift, foreign validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import schemagen
from contracts.payloads import ALL_PAYLOADS, BeamEvent, DeadLetter, SheetSubmitted
from contracts.registry import (
    REGISTRY,
    FutureVersion,
    InvalidSchema,
    MalformedMessage,
    TooLarge,
    UnknownType,
    decode,
    encode,
    make_event,
)
from contracts.validate import validate_bytes

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _submitted() -> object:
    return make_event(
        SheetSubmitted(sheet_run_id="run1", container_id="c1", source="cell a : 1", seed=7),
        stage_id="cli", index=0, sheet_run_id="run1", container_id="c1", occurred_at=T0,
    )


def _beam(parent, index: int = 0):
    return make_event(
        BeamEvent(beam_id="b1", cell_id="a", sheet_run_id="run1", container_id="c1", eid="eid::run1::x",
                  stage="ingest", token="⊕", result={"ast": {"op": "num", "value": 1}}, timestamp="t"),
        stage_id="codex", index=index, parent=parent, occurred_at=T0,
    )


def test_event_ids_are_deterministic_per_input_and_index() -> None:
    root = _submitted()
    assert _beam(root).event_id == _beam(root).event_id
    assert _beam(root, 0).event_id != _beam(root, 1).event_id
    child = _beam(root)
    assert child.causation_id == root.event_id
    assert child.correlation_id == "run1"


def test_every_type_is_registered_with_a_version() -> None:
    assert set(REGISTRY) == {m.TYPE for m in ALL_PAYLOADS}
    assert all(m.SCHEMA_VERSION >= 1 for m in ALL_PAYLOADS)


def test_encode_decode_round_trip() -> None:
    env = _beam(_submitted())
    assert decode(encode(env)) == env


def test_v1_beam_event_is_upcast_to_v2() -> None:
    data = orjson.loads(encode(_beam(_submitted())))
    data["schema_version"] = 1
    del data["payload"]["generation"]
    decoded = decode(orjson.dumps(data))
    assert decoded.schema_version == 2
    assert decoded.payload["generation"] == 0


def test_v1_dead_letter_unauthenticated_is_read_as_reason_auth() -> None:
    letter = make_event(
        DeadLetter(original_b64="e30=", topic="beamline.ingest", key="k", error="tag does not match", reason="auth"),
        stage_id="photon", index=0, sheet_run_id="run1", container_id="c1", occurred_at=T0,
    )
    data = orjson.loads(encode(letter))
    data["schema_version"] = 1
    data["payload"]["reason"] = "unauthenticated"
    decoded = decode(orjson.dumps(data))
    assert decoded.schema_version == 2
    assert decoded.payload["reason"] == "auth"
    data["schema_version"] = 2  # a v2 letter never carries the old name
    with pytest.raises(InvalidSchema):
        decode(orjson.dumps(data))


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: b"{not json", MalformedMessage),
        (lambda d: orjson.dumps({**d, "type": "Nope"}), UnknownType),
        (lambda d: orjson.dumps({**d, "schema_version": 99}), FutureVersion),
        (lambda d: orjson.dumps({**d, "payload": {**d["payload"], "stage": "bogus"}}), InvalidSchema),
        (lambda d: orjson.dumps({**d, "payload": {**d["payload"], "pad": "x" * (1 << 20)}}), TooLarge),
    ],
)
def test_bad_messages_raise_contract_errors_with_reasons(mutate, error) -> None:
    data = orjson.loads(encode(_beam(_submitted())))
    with pytest.raises(error) as info:
        decode(mutate(data))
    assert info.value.reason in {"malformed", "unknown_type", "future_version", "invalid_schema", "too_large"}


@given(st.binary(max_size=300))
def test_decoder_only_raises_contract_errors(raw: bytes) -> None:
    from contracts.registry import ContractError

    try:
        decode(raw)
    except ContractError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4)))
def test_decoder_on_arbitrary_json_only_raises_contract_errors(doc) -> None:
    from contracts.registry import ContractError

    try:
        decode(orjson.dumps(doc))
    except ContractError:
        pass


def test_checked_in_schemas_match_the_models() -> None:
    assert schemagen.drifted() == [], "run `beamline contracts schema` and commit the result"


def test_validate_reports_the_exact_failing_path(tmp_path) -> None:
    data = orjson.loads(encode(_beam(_submitted())))
    data["payload"]["stage"] = "teleport"
    del data["payload"]["cell_id"]
    problems = validate_bytes(orjson.dumps(data))
    paths = {p.path for p in problems}
    assert "$.payload.stage" in paths
    assert "$.payload" in paths  # the missing required cell_id is reported on its parent object
    assert any("cell_id" in p.message for p in problems)
    assert validate_bytes(encode(_beam(_submitted()))) == []


def test_contracts_schema_command_regenerates_missing_and_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from beamline.cli import app

    target = tmp_path
    monkeypatch.setattr(schemagen, "SCHEMA_DIR", target / "schemas")
    monkeypatch.setattr(schemagen, "EVENTS_DOC", target / "events.md")
    (target / "schemas").mkdir()
    (target / "schemas" / "BeamEvent.json").write_text("{}")  # stale
    assert "BeamEvent.json" in schemagen.drifted()
    result = CliRunner().invoke(app, ["contracts", "schema"])
    assert result.exit_code == 0, result.output
    assert schemagen.drifted() == []
    assert {p.name for p in (target / "schemas").iterdir()} == {f"{m.TYPE}.json" for m in ALL_PAYLOADS}
    assert "BeamEvent" in (target / "events.md").read_text()
