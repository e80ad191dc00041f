"""End-to-end fixtures: a mock Kafka broker started the way a user starts it (the script)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mock_broker(tmp_path: Path) -> Iterator[str]:
    """``scripts/kafka_mock_broker.py`` in its own process; yields the bootstrap address it prints."""
    log = tmp_path / "broker.err"
    with log.open("wb") as err:
        broker = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "kafka_mock_broker.py")],
                                  stdout=subprocess.PIPE, stderr=err)
    try:
        assert broker.stdout is not None
        bootstrap = broker.stdout.readline().decode().strip()
        assert bootstrap, f"the mock broker printed no address: {log.read_text()}"
        yield bootstrap
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        if broker.stdout is not None:
            broker.stdout.close()
