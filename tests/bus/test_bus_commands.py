"""The CLI of this area: ``dlq list|retry``, ``tail`` on the embedded store, ``worker`` and Ctrl-C."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from bus_fakes import ToyIngest, sheet
from typer.testing import CliRunner

from beamline.cli import app
from bus.base import Message
from bus.dead_letters import dead_letter_event
from bus.kafka import KafkaBus
from bus.topics import SHEETS
from contracts.envelope import Envelope
from contracts.registry import encode
from store.beam_store import open_store

CLI = CliRunner()


def letter_for(raw: bytes, key: str, reason: str) -> Envelope:
    message = Message(SHEETS, 0, 7, key, raw)
    return dead_letter_event(message, reason=reason, error="test", stage_id="codex", instance="0",
                             occurred_at=sheet("x").occurred_at, flags_digest="")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'beam.db'}"
    good = encode(sheet("run-retry"))
    with open_store(url, migrate=True) as store:
        store.persist_beam_events([
            letter_for(good, "run-retry", "handler_failed"),
            letter_for(b"\x00junk", "junk", "malformed"),
        ])
    return url


def test_dlq_list_shows_every_dead_letter(store_url: str) -> None:
    result = CLI.invoke(app, ["--store", store_url, "dlq", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.output.splitlines()]
    assert sorted(r["payload"]["reason"] for r in rows) == ["handler_failed", "malformed"]
    only = CLI.invoke(app, ["--store", store_url, "dlq", "list", "--reason", "malformed"])
    assert only.exit_code == 0 and "malformed" in only.output and "handler_failed" not in only.output


@pytest.mark.kafka
def test_dlq_retry_republishes_the_original_bytes_to_their_topic(
    store_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    result = CLI.invoke(app, ["--store", store_url, "--bus", "kafka", "dlq", "retry", "--reason", "malformed"])
    assert result.exit_code == 0, result.output
    assert "re-published 1 dead letter" in result.output

    async def read_back() -> list[Message]:
        bus = KafkaBus(bootstrap=kafka_bootstrap, provision=())
        await bus.start()
        try:
            async with bus.read([SHEETS], start="earliest") as reader:
                return await reader.getmany(10, 2.0)
        finally:
            await bus.stop()

    (message,) = asyncio.run(read_back())
    assert message.value == b"\x00junk" and message.key == "junk"


def test_dlq_retry_on_the_embedded_bus_reruns_the_stages(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import stages.registry

    monkeypatch.setattr(stages.registry, "STAGE_IDS", ("codex",))
    monkeypatch.setattr(stages.registry, "create_stage", lambda stage_id, **_: ToyIngest(fanout=1))
    result = CLI.invoke(app, ["--store", store_url, "dlq", "retry", "--reason", "handler_failed"])
    assert result.exit_code == 0, result.output
    assert "re-ran 1 dead letter(s): 1 events produced, 0 dead letter(s) again" in result.output
    with open_store(store_url) as store:
        assert [e.cell_id for e in store.events(types=["BeamEvent"])] == ["run-retry.c0"]


def test_dlq_retry_refuses_unknown_ids_and_needs_a_selection(store_url: str) -> None:
    assert CLI.invoke(app, ["--store", store_url, "dlq", "retry"]).exit_code != 0
    unknown = CLI.invoke(app, ["--store", store_url, "dlq", "retry", "no-such-id"])
    assert unknown.exit_code != 0


def test_tail_on_the_embedded_bus_reads_the_store(store_url: str) -> None:
    result = CLI.invoke(app, ["--store", store_url, "tail", "--from-beginning", "--json", "--type", "DeadLetter"])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.output.splitlines()]
    assert [line["event"]["type"] for line in lines] == ["DeadLetter", "DeadLetter"]
    assert all(line["topic"] == "beamline.dlq" and line["seq"] > 0 for line in lines)
    raw = base64.b64decode(lines[1]["event"]["payload"]["original_b64"])
    assert raw == b"\x00junk"
    text = CLI.invoke(app, ["--store", store_url, "tail", "dlq", "--from-beginning"])
    assert text.exit_code == 0 and text.output.count("DeadLetter") == 2


def _beamline(*args: str, env: dict[str, Any]) -> subprocess.Popen[str]:
    code = "import sys; from beamline.cli import main; sys.argv[0] = 'beamline'; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **env})


@pytest.mark.kafka
def test_worker_and_tail_stop_cleanly_on_ctrl_c(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = {"KAFKA_BOOTSTRAP": kafka_bootstrap}
    store = f"sqlite:///{tmp_path / 'w.db'}"
    worker = _beamline("--bus", "kafka", "--store", store, "worker", "codex", "--instance-id", "w1", env=env)
    follower = _beamline("--bus", "kafka", "tail", "hud", env=env)
    wait_for_line(worker, "consuming beamline.sheets in group beamline.codex")

    async def poke() -> None:  # something for the tail to show, so we know it is following
        bus = KafkaBus(bootstrap=kafka_bootstrap, provision=())
        await bus.start()
        await bus.publish("beamline.hud", "k", b"not an event")
        await bus.stop()

    for _ in range(40):
        asyncio.run(poke())
        if wait_for_line(follower, "UNDECODABLE", required=False):
            break
    for process in (worker, follower):
        process.send_signal(signal.SIGINT)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert "worker codex stopped: 0 processed" in out
    tail_out, _ = follower.communicate(timeout=60)
    assert follower.returncode == 0, tail_out
    assert "Traceback" not in out + tail_out


def wait_for_line(process: subprocess.Popen[str], text: str, required: bool = True, timeout: float = 1.0) -> bool:
    """Read the process's output until a line contains ``text`` (the first wait is unbounded)."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            if not required and not selector.select(timeout):
                return False
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"process exited ({process.wait()}) before printing {text!r}")
            if text in line:
                return True


@pytest.mark.kafka
def test_the_mock_broker_script_serves_every_topic_until_sigterm() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "kafka_mock_broker.py"
    broker = subprocess.Popen([sys.executable, str(script), "--partitions", "2"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert broker.stdout is not None
        bootstrap = broker.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:")

        async def round_trip() -> tuple[list[Message], int]:
            bus = KafkaBus(bootstrap=bootstrap, provision=())
            await bus.start()
            try:
                await bus.publish("beamline.basin", "c1", b"hello")
                async with bus.read(["beamline.basin"], start="earliest") as reader:
                    got = await reader.getmany(10, 2.0)
                return got, len(await bus.partitions_of(["beamline.dlq"]))
            finally:
                await bus.stop()

        got, dlq_partitions = asyncio.run(round_trip())
        assert [m.value for m in got] == [b"hello"] and dlq_partitions == 2
    finally:
        broker.send_signal(signal.SIGTERM)
        _, err = broker.communicate(timeout=20)
    assert broker.returncode == 0, err
