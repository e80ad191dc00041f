"""QKD_ON event authentication: HMAC-SHA256 tags under per-EID HKDF keys (quality.md, Security)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.auth import (
    SECRET_ENV,
    SECRET_FILE_ENV,
    Authenticator,
    MasterSecret,
    QKDConfigError,
    Unauthenticated,
    authenticator_from_env,
    derive_key,
    key_info,
    load_secret,
    sign,
    verify,
)
from contracts.envelope import Envelope
from contracts.payloads import BeamEvent, SheetSubmitted
from contracts.registry import ContractError, decode, encode, make_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = bytes(range(1, 33))
OTHER_SECRET = bytes(range(101, 133))
EID = "eid::run1::0123456789abcdef0123456789abcdef"


def _submitted() -> Envelope:
    return make_event(
        SheetSubmitted(sheet_run_id="run1", container_id="c1", source="cell a : 1", seed=7),
        stage_id="cli", index=0, sheet_run_id="run1", container_id="c1", occurred_at=T0,
    )


def _beam(eid: str = EID, result: dict[str, Any] | None = None) -> Envelope:
    body = result if result is not None else {
        "ast": {"op": "num", "value": 1.5, "args": []},
        "shape": [8, 8],
        "cost": {"flops": 1024, "risk_flags": ["cfl"], "cfl": None},
        "route": "qwave",
        "finite": True,
    }
    return make_event(
        BeamEvent(beam_id="b1", cell_id="a", sheet_run_id="run1", container_id="c1", eid=eid,
                  stage="ingest", token="⊕", result=body, timestamp="t"),
        stage_id="codex", index=0, parent=_submitted(), eid=eid, cell_id="a", occurred_at=T0,
    )


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(data, dict):
        for name, value in data.items():
            yield from _leaves(value, (*path, name))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))
    else:
        yield path, data


def _flipped(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return value + "x"
    return "x"  # None -> a string


def _with(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = orjson.loads(orjson.dumps(data))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def test_sign_then_verify_round_trips_including_over_the_wire() -> None:
    signed = sign(_beam(), SECRET)
    assert signed.auth is not None and signed.auth.startswith("hmac-sha256:")
    verify(signed, SECRET)
    verify(decode(encode(signed)), SECRET)  # what a consumer sees after the bus
    assert signed.model_dump(exclude={"auth"}) == _beam().model_dump(exclude={"auth"})


def test_authenticator_and_function_api_agree() -> None:
    auth = Authenticator(SECRET)
    envelope = _beam()
    assert auth.sign(envelope).auth == sign(envelope, SECRET).auth
    auth.verify(sign(envelope, SECRET))
    verify(auth.sign(envelope), MasterSecret(SECRET))
    auth.verify_data(orjson.loads(encode(auth.sign(envelope))))


def test_signing_twice_replaces_the_tag_rather_than_covering_it() -> None:
    once = sign(_beam(), SECRET)
    assert sign(once, SECRET).auth == once.auth
    resigned = sign(once, OTHER_SECRET)
    verify(resigned, OTHER_SECRET)
    with pytest.raises(Unauthenticated):
        verify(resigned, SECRET)


def test_every_changed_field_is_rejected() -> None:
    signed = sign(_beam(), SECRET)
    data = signed.model_dump(mode="json")
    leaves = [(path, value) for path, value in _leaves(data) if path != ("auth",)]
    payload_leaves = [path for path, _ in leaves if path[0] == "payload"]
    assert len(payload_leaves) >= 10  # the walk really reaches nested result fields
    accepted = []
    for path, value in leaves:
        if path == ("occurred_at",):
            tampered = _with(data, path, "2026-01-01T00:00:01Z")
        elif path == ("schema_version",):
            continue  # bumping the version makes the envelope invalid before auth is consulted
        else:
            tampered = _with(data, path, _flipped(value))
        try:
            verify(Envelope.model_validate(tampered), SECRET)
        except Unauthenticated:
            continue
        accepted.append(path)
    assert accepted == []


def test_moving_an_event_to_another_eid_is_rejected() -> None:
    signed = sign(_beam(), SECRET)
    moved = signed.model_copy(update={"eid": EID.replace("0123", "9999")})
    with pytest.raises(Unauthenticated):
        verify(moved, SECRET)
    dropped = signed.model_copy(update={"eid": None})
    with pytest.raises(Unauthenticated):
        verify(dropped, SECRET)


def test_a_tag_from_one_eid_does_not_authenticate_the_same_content_under_another() -> None:
    a = sign(_beam(eid="eid::run1::aaaa"), SECRET)
    b = _beam(eid="eid::run1::bbbb").model_copy(update={"auth": a.auth})
    with pytest.raises(Unauthenticated):
        verify(b, SECRET)


@pytest.mark.parametrize("tag", [None, "", "hmac-sha256:", "hmac-sha256:zz", "sha1:" + "0" * 40,
                                 "hmac-sha256:" + "0" * 64, "HMAC-SHA256:" + "a" * 64])
def test_unsigned_or_malformed_tags_are_rejected(tag: str | None) -> None:
    envelope = _beam().model_copy(update={"auth": tag})
    with pytest.raises(Unauthenticated) as info:
        verify(envelope, SECRET)
    assert isinstance(info.value, ContractError)
    assert info.value.reason == "auth"
    assert envelope.event_id in str(info.value)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(Unauthenticated, match="does not match"):
        Authenticator(OTHER_SECRET).verify(sign(_beam(), SECRET))


def _rfc5869(master: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """Independent HKDF-SHA256 (RFC 5869) to pin the documented derivation."""
    prk = hmac.new(salt, master, hashlib.sha256).digest()
    block, out, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_keys_differ_per_eid_and_follow_the_documented_derivation() -> None:
    first, second = _beam(eid="eid::run1::aaaa"), _beam(eid="eid::run1::bbbb")
    assert key_info(first) == b"beamline-eid:eid::run1::aaaa"
    auth = Authenticator(SECRET)
    key_a, key_b = auth.key_for(first), auth.key_for(second)
    assert key_a != key_b and len(key_a) == 32
    assert key_a == _rfc5869(SECRET, b"beamline-qkd/v1", b"beamline-eid:eid::run1::aaaa")
    assert auth.key_for(first) == key_a  # stable
    assert Authenticator(OTHER_SECRET).key_for(first) != key_a
    expected = "hmac-sha256:" + hmac.new(
        key_a, orjson.dumps({k: v for k, v in first.model_dump(mode="json").items() if k != "auth"},
                            option=orjson.OPT_SORT_KEYS), hashlib.sha256).hexdigest()
    assert auth.sign(first).auth == expected


def test_events_without_eid_are_keyed_to_their_run() -> None:
    root = _submitted()
    assert root.eid is None
    assert key_info(root) == b"beamline-run:run1"
    signed = sign(root, SECRET)
    verify(signed, SECRET)
    # A run key never equals an EID key even when the strings coincide.
    assert derive_key(SECRET, b"beamline-run:x") != derive_key(SECRET, b"beamline-eid:x")
    with pytest.raises(Unauthenticated):
        verify(signed.model_copy(update={"sheet_run_id": "run2"}), SECRET)


def test_the_secret_never_appears_in_signed_events_or_reprs() -> None:
    auth = Authenticator(SECRET)
    wire = encode(auth.sign(_beam())) + encode(auth.sign(_submitted()))
    text = wire.decode("utf-8")
    for form in (SECRET.hex(), SECRET.hex().upper(), base64.b64encode(SECRET).decode(),
                 base64.urlsafe_b64encode(SECRET).decode().rstrip("=")):
        assert form not in text
        assert form not in repr(auth) and form not in repr(MasterSecret(SECRET))
    assert SECRET not in wire
    assert "redacted" in repr(auth)
    for key in (auth.key_for(_beam()), auth.key_for(_submitted())):
        assert key.hex() not in text  # derived keys stay out too


def test_key_cache_is_a_bounded_lru() -> None:
    auth = Authenticator(SECRET, cache_size=2)
    envelopes = [sign(_beam(eid=f"eid::run1::{n}"), SECRET) for n in range(5)]
    for envelope in envelopes:
        auth.verify(envelope)
    assert auth.cached_keys == 2
    auth.verify(envelopes[0])  # evicted keys are re-derived, not lost
    with pytest.raises(ValueError):
        Authenticator(SECRET, cache_size=0)


@settings(max_examples=40)
@given(result=st.dictionaries(st.text(max_size=8),
                              st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=12), st.booleans(),
                                        st.floats(allow_nan=False, allow_infinity=False), st.none()),
                              max_size=6),
       eid=st.text(min_size=1, max_size=30))
def test_arbitrary_payloads_round_trip_over_the_wire(result: dict[str, Any], eid: str) -> None:
    auth = Authenticator(SECRET)
    signed = auth.sign(_beam(eid=eid, result=result))
    auth.verify(decode(encode(signed)))
    auth.verify_data(orjson.loads(encode(signed)))


# --- configuration -------------------------------------------------------------------------------


def test_secret_from_env_hex_and_base64_forms() -> None:
    for text in (SECRET.hex(), SECRET.hex().upper(), f"hex:{SECRET.hex()}",
                 base64.b64encode(SECRET).decode(), base64.urlsafe_b64encode(SECRET).decode().rstrip("="),
                 f"base64:{base64.b64encode(SECRET).decode()}", f"  {SECRET.hex()}\n"):
        secret = load_secret({SECRET_ENV: text})
        assert secret is not None and secret.value == SECRET, text


def test_secret_from_file(tmp_path) -> None:
    path = tmp_path / "qkd.secret"
    path.write_text(SECRET.hex() + "\n")
    auth = Authenticator.from_env({SECRET_FILE_ENV: str(path)})
    auth.verify(sign(_beam(), SECRET))


def test_qkd_on_without_a_secret_is_a_clear_error() -> None:
    assert authenticator_from_env(False, {}) is None
    with pytest.raises(QKDConfigError, match="QKD_ON is set but no secret is configured") as info:
        authenticator_from_env(True, {})
    assert SECRET_FILE_ENV in str(info.value) and SECRET_ENV in str(info.value)
    assert authenticator_from_env(True, {SECRET_ENV: SECRET.hex()}) is not None


@pytest.mark.parametrize("environ, message", [
    ({SECRET_ENV: "ab" * 16}, "at least 32"),
    ({SECRET_ENV: "not a secret!!"}, "neither hex nor base64"),
    ({SECRET_ENV: "hex:xyz"}, "not valid hex"),
    ({SECRET_ENV: "ab" * 32, SECRET_FILE_ENV: "/x"}, "only one"),
    ({SECRET_FILE_ENV: "/nonexistent/qkd.secret"}, "cannot read"),
])
def test_bad_secret_configuration_is_rejected_without_echoing_it(environ: dict[str, str], message: str) -> None:
    with pytest.raises(QKDConfigError, match=message) as info:
        authenticator_from_env(True, environ)
    secret_text = environ.get(SECRET_ENV)
    if secret_text and len(secret_text) > 8:
        assert secret_text not in str(info.value)
