"""Shared test configuration: hypothesis profiles (``HYPOTHESIS_PROFILE=ci`` in `make test`) and the
mock Kafka broker fixture (``mock_broker``) the end-to-end and reliability tests start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def mock_broker(tmp_path: Path) -> Iterator[str]:
    """``scripts/kafka_mock_broker.py`` in its own process (as a user starts it); yields the bootstrap
    address it prints."""
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
