"""QKD_ON through the real pipeline: forged messages are dead letters, the secret is never written,
and a run re-executes identically with ``replay --rerun``.

Attacks (on the sheets topic and on a stage-to-stage topic): a flipped byte in a signed message,
a message without a tag, a message signed with another master secret. Each must become one
DeadLetter with the authentication reason and cause nothing downstream.
"""

from __future__ import annotations

import base64
import logging
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from beamline.flags import digest, resolve
from beamline.pipeline import enabled_stages, submission
from bus.memory import MemoryBus
from bus.pipeline import run_pipeline
from bus.topics import CODEX, SHEETS
from contracts.auth import SECRET_ENV, SECRET_FILE_ENV, Authenticator, Unauthenticated, derive_key, key_info
from contracts.envelope import Envelope
from contracts.payloads import BeamEvent
from contracts.registry import encode, make_event
from store.beam_store import open_store

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("beamline"))
SECRET = bytes(range(7, 39))
OTHER_SECRET = bytes(range(64, 96))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MARKER = "MARKER"
SHEET = """sheet qkd
grid 16x16 spacing 0.0625 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.2)
cell a : Δu + 0.5*u
cell b : u * u
cell c : u / sin(2 * pi * x)
a ↔ b
"""


def flags() -> dict[str, object]:
    return {**resolve(flags_file=ROOT / "flags.toml", environ={}), "QKD_ON": True}


def forged_sheet() -> Envelope:
    fl = flags()
    return submission(f"sheet evil\ncell e : 1  # {MARKER}\n", filename="evil.codex", flags=fl,
                      flags_digest=digest(fl), run_id="run-evil")


def forged_beam() -> Envelope:
    return make_event(
        BeamEvent(beam_id=MARKER, cell_id="evil", sheet_run_id="run-evil", container_id="default",
                  eid="eid::run-evil::x", stage="ingest", token="⊕",
                  result={"ast": {"op": "num", "value": 1.0, "args": []}}, timestamp="t"),
        stage_id="codex", index=0, sheet_run_id="run-evil", container_id="default", eid="eid::run-evil::x",
        cell_id="evil", occurred_at=T0,
    )


def flipped(envelope: Envelope) -> bytes:
    """Signed with the right secret, then one byte changed (inside a string: still valid JSON)."""
    raw = encode(Authenticator(SECRET).sign(envelope))
    at = raw.index(MARKER.encode()) + len(MARKER) - 1
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]


ATTACKS: dict[str, Callable[[Envelope], bytes]] = {
    "flipped byte": flipped,
    "missing tag": encode,
    "wrong key": lambda envelope: encode(Authenticator(OTHER_SECRET).sign(envelope)),
}
TARGETS = {SHEETS: forged_sheet, CODEX: forged_beam}


def consumers_of(topic: str) -> list[str]:
    return sorted(stage.stage_id for stage in enabled_stages() if topic in stage.input_topics)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    monkeypatch.setenv(SECRET_ENV, SECRET.hex())


async def run_with(raw: list[tuple[str, str, bytes]], store: object) -> object:
    fl = flags()
    good = submission(SHEET, filename="qkd.codex", flags=fl, flags_digest=digest(fl), run_id="run-good")
    bus = MemoryBus()
    try:
        return await run_pipeline(enabled_stages(), [good], bus=bus, store=store, flags=fl, initial_raw=raw,
                                  timeout_s=300)
    finally:
        await bus.stop()


@pytest.mark.usefixtures("secret_env")
@pytest.mark.parametrize("topic", sorted(TARGETS))
@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_forged_messages_are_dead_lettered_for_auth_and_never_processed(attack: str, topic: str) -> None:
    raw = ATTACKS[attack](TARGETS[topic]())
    store = open_store("sqlite://", migrate=True)
    await run_with([(topic, "evil", raw)], store)
    letters = store.dead_letters()
    # One per consumer group of the topic (its stage, and the KG that reads every topic).
    assert sorted(letter.payload["stage"] for letter in letters) == consumers_of(topic)
    for letter in letters:
        assert letter.payload["reason"] == Unauthenticated.reason
        assert letter.payload["topic"] == topic
        assert base64.b64decode(letter.payload["original_b64"]) == raw
    # Never processed: nothing but the dead letter mentions the forged run.
    assert {e.type for e in store.events(sheet_run_id="run-evil")} == {"DeadLetter"}
    assert not [e for e in store.events(types=["BeamEvent"]) if e.cell_id in ("e", "evil")]
    # The genuine run went through, every event of it signed with its per-EID/run key.
    good = store.events(sheet_run_id="run-good")
    assert {e.cell_id for e in good if e.type == "BeamEvent" and e.payload["stage"] in ("approved", "vetoed")} \
        == {"a", "b", "c"}
    authenticator = Authenticator(SECRET)
    for event in good:
        authenticator.verify(event)
    store.close()


@pytest.mark.usefixtures("secret_env")
async def test_the_master_secret_and_derived_keys_never_reach_events_logs_or_dead_letters(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "qkd.db"
    store = open_store(f"sqlite:///{db}", migrate=True)
    caplog.set_level(logging.DEBUG)
    raw = [(SHEETS, "evil", flipped(forged_sheet())), (CODEX, "evil", encode(forged_beam()))]
    await run_with(raw, store)
    events = store.events()
    assert len(store.dead_letters()) == len(consumers_of(SHEETS)) + len(consumers_of(CODEX))
    store.close()
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT * FROM events").fetchall()
    stored = "\n".join(repr(row) for row in rows)
    keys = {derive_key(SECRET, key_info(e)) for e in events}
    forbidden = {SECRET.hex(), SECRET.hex().upper(), base64.b64encode(SECRET).decode(),
                 base64.urlsafe_b64encode(SECRET).decode().rstrip("="), repr(SECRET)}
    forbidden |= {k.hex() for k in keys} | {base64.b64encode(k).decode() for k in keys}
    haystacks = {"store": stored, "log": caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records),
                 "dead letters": "\n".join(orjson.dumps(e.payload).decode() for e in events
                                           if e.type == "DeadLetter"),
                 "authenticator repr": repr(Authenticator(SECRET))}
    assert len(rows) > 30 and caplog.records  # there was something to search
    for where, text in haystacks.items():
        for secret in forbidden:
            assert secret not in text, f"secret material in the {where}"
        assert SECRET.decode("latin-1") not in text


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_qkd_run_replays_identically_for_every_eid(tmp_path: Path) -> None:
    sheet = tmp_path / "qkd.codex"
    sheet.write_text(SHEET + "cell blowup : ⟲40 u ← u + 0.0002 * Δu\n", encoding="utf-8")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET.hex(), encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if k not in (SECRET_ENV, SECRET_FILE_ENV)}
    env[SECRET_FILE_ENV] = str(secret_file)
    store = f"sqlite:///{tmp_path / 'qkd.db'}"
    run = subprocess.run([CLI, "--store", store, "--flag", "QKD_ON=true", "run", str(sheet), "--run-id", "run-q"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    eids = sorted(set(re.findall(r"replay (eid::\S+) --rerun", run.stdout)))
    assert len(eids) >= 2, run.stdout
    for eid in eids:
        rerun = subprocess.run([CLI, "--store", store, "replay", eid, "--rerun"], capture_output=True, text=True,
                               env=env, cwd=tmp_path, timeout=300)
        assert rerun.returncode == 0, f"{eid}: {rerun.stdout[-1500:]} {rerun.stderr[-1500:]}"
        assert rerun.stdout.strip().startswith("identical: "), rerun.stdout[-1500:]
    # Every event carries a valid tag under the run's or its EID's key — but the container's basin
    # packet, which quality.md has signed with Ed25519 instead (basin.packets).
    recorded = open_store(store)
    events = recorded.events()
    recorded.close()
    authenticator = Authenticator(SECRET)
    for event in events:
        if event.type == "BasinSyncPacket":
            continue
        assert event.auth, f"{event.type} {event.event_id} stored without a tag"
        authenticator.verify(event)
    assert len(events) > 30
