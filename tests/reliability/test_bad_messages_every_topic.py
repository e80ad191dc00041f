"""Bad messages of every kind on every topic a stage consumes: dead-lettered, consumer keeps going.

Each case runs the real pipeline (every stage, memory bus, in-memory SQLite store) over a
small sheet, with the five kinds of bad message published on one consumed topic *before*
the sheet's own traffic reaches it. Proven: each bad message becomes exactly one DeadLetter
with the decoder's reason, naming the topic and the consuming stage and keeping the bytes;
and the sheet still completes through every stage, so the consumer that dead-lettered the
bad messages kept consuming.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from reliability_kit import ROOT, sheet_source

from beamline.flags import digest, resolve
from beamline.pipeline import enabled_stages, submission
from bus.memory import MemoryBus
from bus.pipeline import run_pipeline
from contracts.payloads import BeamEvent
from contracts.registry import MAX_MESSAGE_BYTES, encode, make_event
from stages.registry import STAGE_IDS, create_stage
from store.beam_store import open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONSUMED = sorted({(topic, stage_id) for stage_id in STAGE_IDS for topic in create_stage(stage_id).input_topics})


def _valid() -> dict[str, object]:
    beam = make_event(
        BeamEvent(beam_id="b1", cell_id="bad", sheet_run_id="run-bad", container_id="c1", stage="ingest",
                  token="⊕", result={}, timestamp="t"),
        stage_id="fuzz", index=0, sheet_run_id="run-bad", container_id="c1", occurred_at=T0,
    )
    data: dict[str, object] = orjson.loads(encode(beam))
    return data


def bad_messages() -> dict[str, bytes]:
    """reason -> bytes: one message of every kind the decoder refuses."""
    data = _valid()
    payload = dict(data["payload"])  # type: ignore[call-overload]
    return {
        "malformed": b"\xff\xfe{definitely not json",
        "invalid_schema": orjson.dumps({**data, "payload": {**payload, "stage": "bogus"}}),
        "unknown_type": orjson.dumps({**data, "type": "NoSuchEvent"}),
        "future_version": orjson.dumps({**data, "schema_version": 99}),
        "too_large": orjson.dumps({**data, "payload": {**payload, "pad": "x" * (MAX_MESSAGE_BYTES + 1)}}),
    }


@pytest.mark.parametrize(("topic", "stage_id"), CONSUMED, ids=[f"{t}->{s}" for t, s in CONSUMED])
async def test_every_kind_of_bad_message_is_dead_lettered_and_the_consumer_keeps_going(
        topic: str, stage_id: str) -> None:
    flags = resolve(flags_file=ROOT / "flags.toml", environ={})
    sheet = submission(sheet_source(10, "dlq"), filename="dlq.codex", flags=flags, flags_digest=digest(flags),
                       run_id="run-dlq")
    bad = bad_messages()
    store = open_store("sqlite://", migrate=True)
    bus = MemoryBus()
    try:
        result = await run_pipeline(enabled_stages(), [sheet], bus=bus, store=store, flags=flags,
                                    initial_raw=[(topic, f"k-{reason}", raw) for reason, raw in bad.items()],
                                    timeout_s=300)
    finally:
        await bus.stop()
    # Every consumer group of the topic dead-letters what it cannot decode (the KG stage reads
    # every topic too): this stage's letters are checked, and each group's count adds up.
    letters = [letter for letter in store.dead_letters() if letter.payload["stage"] == stage_id]
    by_reason = {letter.payload["reason"]: letter for letter in letters}
    assert sorted(by_reason) == sorted(bad) and len(letters) == len(bad)
    for reason, letter in by_reason.items():
        assert letter.payload["topic"] == topic
        assert letter.payload["stage"] == stage_id
        assert letter.payload["key"] == f"k-{reason}"
        kept = base64.b64decode(letter.payload["original_b64"])
        assert kept == bad[reason] if reason != "too_large" else bad[reason].startswith(kept)
    assert result.dead_letters == len(bad) * sum(t == topic for t, _ in CONSUMED)
    # The consumer kept going: every cell of the sheet went through every stage afterwards.
    verdicts = store.events(sheet_run_id="run-dlq", types=["BeamEvent"])
    done = {e.cell_id for e in verdicts if e.payload["stage"] in ("approved", "vetoed")}
    assert done == {f"c{i}" for i in range(10)}
    assert any(e.type == "PatternMotif" for e in store.events(sheet_run_id="run-dlq", types=["PatternMotif"]))
    store.close()
