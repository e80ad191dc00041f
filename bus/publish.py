"""Publish envelopes from a short-lived process (``beamline flags set``, ``dlq retry``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bus.base import Record, create_bus
from bus.topics import key_for, topic_for
from contracts.envelope import Envelope
from contracts.registry import encode


def records_of(envelopes: Sequence[Envelope]) -> list[Record]:
    """(topic, key, bytes) of each envelope, routed as the runner routes outputs."""
    return [(topic_for(env), key_for(env), encode(env)) for env in envelopes]


async def publish_records(bus_name: str, records: Sequence[Record], **bus_options: Any) -> None:
    """Start a bus of driver ``bus_name``, publish ``records``, wait for the acks, stop it."""
    bus = create_bus(bus_name, **bus_options)
    await bus.start()
    try:
        await bus.publish_many(records)
    finally:
        await bus.stop()


async def publish_envelopes(bus_name: str, envelopes: Sequence[Envelope], **bus_options: Any) -> None:
    """Publish ``envelopes`` on their topics (on the memory bus this reaches only this process)."""
    await publish_records(bus_name, records_of(envelopes), **bus_options)
