"""Kafka group membership, without a broker: the session timeout a worker takes from its
environment, and the partitions a member holds as its log tells (read by the crash test)."""

from __future__ import annotations

import logging

import pytest
from aiokafka.structs import TopicPartition

from bus.base import BusError
from bus.kafka import DEFAULT_SESSION_TIMEOUT_MS, KafkaBus
from bus.kafka_members import _AssignmentLog, partitions_held


def test_session_timeout_comes_from_the_environment_and_heartbeats_follow_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_SESSION_TIMEOUT_MS", raising=False)
    plain = KafkaBus(bootstrap="127.0.0.1:1")
    assert (plain.session_timeout_ms, plain.heartbeat_interval_ms) == (DEFAULT_SESSION_TIMEOUT_MS, 1_000)

    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "2400")
    short = KafkaBus(bootstrap="127.0.0.1:1")
    assert (short.session_timeout_ms, short.heartbeat_interval_ms) == (2_400, 800)
    explicit = KafkaBus(bootstrap="127.0.0.1:1", session_timeout_ms=30_000, heartbeat_interval_ms=500)
    assert (explicit.session_timeout_ms, explicit.heartbeat_interval_ms) == (30_000, 500)


@pytest.mark.parametrize("value", ["ten", "999", "-5"])
def test_a_bad_session_timeout_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", value)
    with pytest.raises(BusError, match="KAFKA_SESSION_TIMEOUT_MS"):
        KafkaBus(bootstrap="127.0.0.1:1")


def test_the_partitions_held_are_the_last_assignment_unless_revoked_since(caplog: pytest.LogCaptureFixture) -> None:
    listener = _AssignmentLog("beamline.spe", "spe-a")
    with caplog.at_level(logging.INFO, logger="bus.kafka_members"):
        listener.on_partitions_assigned({TopicPartition("beamline.vetoes", 3), TopicPartition("beamline.approved", 1)})
        first = caplog.text
        listener.on_partitions_revoked({TopicPartition("beamline.vetoes", 3), TopicPartition("beamline.approved", 1)})
        revoked = caplog.text
        listener.on_partitions_assigned({TopicPartition("beamline.approved", 0)})
    assert "beamline.spe[spe-a] holds partitions beamline.approved:1, beamline.vetoes:3" in first
    assert partitions_held(first) == {("beamline.approved", 1), ("beamline.vetoes", 3)}
    assert partitions_held(revoked) == frozenset()
    assert partitions_held(caplog.text) == {("beamline.approved", 0)}
    assert partitions_held("no member line at all") == frozenset()
