"""Decoded envelopes shared between the consumer groups of one memory bus."""

from __future__ import annotations

import pytest
from bus_fakes import sheet

from bus.codec import DecodedMessages, EventCodec
from bus.memory import MemoryBus
from contracts.registry import MalformedMessage, decode, encode


def test_a_message_is_decoded_once_and_equals_a_fresh_decode() -> None:
    cache = DecodedMessages(size=2)
    raw = encode(sheet("run-1"))
    first = cache.decode(raw)
    assert cache.decode(raw) is first and first == decode(raw)
    assert cache.decode(bytes(bytearray(raw))) is first  # equal bytes, another object: same result


def test_the_cache_is_bounded_and_never_keeps_a_failure() -> None:
    cache = DecodedMessages(size=2)
    raws = [encode(sheet(f"run-{i}")) for i in range(3)]
    firsts = [cache.decode(raw) for raw in raws]
    assert cache.decode(raws[2]) is firsts[2]
    assert cache.decode(raws[0]) is not firsts[0] and cache.decode(raws[0]) == firsts[0]  # evicted, decoded again
    for _ in range(2):
        with pytest.raises(MalformedMessage):
            cache.decode(b"\xff{not json")


def test_the_memory_bus_lends_one_cache_and_qkd_bypasses_it() -> None:
    bus = MemoryBus()
    raw = encode(sheet("run-q"))
    plain = EventCodec(decoded=bus.decoded)
    assert plain.decode(raw) is EventCodec(decoded=bus.decoded).decode(raw)

    class Refusing:
        def verify_data(self, data: object) -> None:
            raise MalformedMessage("tag checked on every message")

    with pytest.raises(MalformedMessage):
        EventCodec(Refusing(), decoded=bus.decoded).decode(raw)
