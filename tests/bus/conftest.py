"""Bus fixtures: ``kafka_bootstrap`` (a fresh librdkafka mock cluster) and ``bus`` (every driver)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from bus_fakes import KAFKA_TEST_OPTIONS

from bus.base import Bus
from bus.kafka_mock import MockCluster


@pytest.fixture
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a mock Kafka cluster with every Beamline topic (fresh per test)."""
    with MockCluster(initial_rebalance_delay_ms=50) as cluster:
        yield cluster.bootstrap


def make_bus(kind: str, request: pytest.FixtureRequest, **options: Any) -> Bus:
    if kind == "memory":
        from bus.memory import MemoryBus

        return MemoryBus(**options)
    from bus.kafka import KafkaBus

    bootstrap = request.getfixturevalue("kafka_bootstrap")
    return KafkaBus(bootstrap=bootstrap, **{**KAFKA_TEST_OPTIONS, **options})


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """A started bus of each driver; stopped after the test."""
    instance = make_bus(request.param, request)
    await instance.start()
    yield instance
    await instance.stop()
