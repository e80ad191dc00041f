"""What only the embedded bus has to prove: bounded queues, backpressure, group emulation."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys

import pytest
from bus_fakes import eventually

from bus.base import BusClosed, BusError, create_bus, driver_names, register_driver
from bus.memory import MemoryBus, partition_for


def test_partitioning_is_a_stable_hash_of_the_key() -> None:
    keys = [f"eid::run-{i}::abc" for i in range(50)]
    expected = [int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big") % 4 for k in keys]
    assert [partition_for(k, 4) for k in keys] == expected
    assert set(expected) == {0, 1, 2, 3}
    # hash() would differ between processes with different seeds; blake2b does not.
    code = "from bus.memory import partition_for; print([partition_for(f'eid::run-{i}::abc', 4) for i in range(50)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == str(expected)


def test_drivers_come_from_a_registry_by_name() -> None:
    assert {"memory", "kafka"} <= set(driver_names())
    assert isinstance(create_bus("memory", capacity=8), MemoryBus)
    register_driver("memory-small", lambda **kw: MemoryBus(capacity=2, **kw))
    assert create_bus("memory-small").capacity == 2
    with pytest.raises(BusError, match="unknown bus driver 'nope'"):
        create_bus("nope")


async def test_publish_waits_while_a_partition_is_full_and_resumes_on_ack() -> None:
    bus = MemoryBus(partitions=1, capacity=3)
    consumer = bus.consume("g", ["t"])
    await consumer.start()
    for i in range(3):
        await bus.publish("t", "k", b"%d" % i)
    blocked = asyncio.create_task(bus.publish("t", "k", b"3"))
    await asyncio.sleep(0.05)
    assert not blocked.done() and bus.depth(["t"]) == {"t": 3}
    batch = await consumer.getmany(2, 0.1)
    await asyncio.sleep(0.02)
    assert not blocked.done()  # fetched is not acknowledged
    await consumer.ack(batch[0])
    await asyncio.wait_for(blocked, 1)
    assert bus.depth(["t"]) == {"t": 3} and bus.stats.backpressure_waits == 1
    assert [m.value for m in await consumer.getmany(10, 0.1)] == [b"2", b"3"]


async def test_each_group_has_its_own_offsets_and_memory_is_freed_by_the_slowest() -> None:
    bus = MemoryBus(partitions=2, capacity=100)
    fast, slow = bus.consume("fast", ["t"]), bus.consume("slow", ["t"])
    await fast.start()
    await slow.start()
    await bus.publish_many([("t", f"k{i}", b"x") for i in range(10)])
    got = await fast.getmany(100, 0.1)
    await fast.ack_many(got)
    assert len(got) == 10 and bus.depth(["t"]) == {"t": 10}  # slow still needs them
    assert await bus.lag("fast", ["t"]) == 0 and await bus.lag("slow", ["t"]) == 10
    await slow.ack_many(await slow.getmany(100, 0.1))
    assert bus.depth(["t"]) == {"t": 0}


async def test_a_topic_nobody_consumes_keeps_only_its_retention() -> None:
    bus = MemoryBus(partitions=1, capacity=4, retention=5)
    for i in range(12):
        await bus.publish("hud", None, b"%d" % i)  # never blocks: no group holds it
    assert bus.depth(["hud"]) == {"hud": 5} and bus.stats.dropped == 7
    async with bus.read(["hud"], start="earliest") as reader:
        assert [m.value for m in await reader.getmany(100, 0.1)] == [b"%d" % i for i in range(7, 12)]


async def test_members_split_partitions_and_a_leaving_member_hands_over_unacked_messages() -> None:
    bus = MemoryBus(partitions=4, capacity=100)
    a, b = bus.consume("g", ["t"], instance_id="a"), bus.consume("g", ["t"], instance_id="b")
    await a.start()
    await b.start()
    assert a.assignment() == {("t", 0), ("t", 2)} and b.assignment() == {("t", 1), ("t", 3)}
    await bus.publish_many([("t", f"k{i}", b"%d" % i) for i in range(40)])
    taken_by_a = await a.getmany(100, 0.1)
    await a.ack_many(taken_by_a[:5])
    await a.close()  # leaves with the rest unacknowledged
    assert b.assignment() == {("t", p) for p in range(4)}
    received = [m for m in await b.getmany(100, 0.1)]
    redelivered = {(m.partition, m.offset) for m in taken_by_a[5:]}
    assert redelivered <= {(m.partition, m.offset) for m in received}
    assert len(received) == 40 - 5


async def test_nack_redelivers_from_that_message_in_order() -> None:
    bus = MemoryBus(partitions=1)
    consumer = bus.consume("g", ["t"])
    await consumer.start()
    await bus.publish_many([("t", "k", b"%d" % i) for i in range(5)])
    first = await consumer.getmany(5, 0.1)
    await consumer.ack(first[1])
    await consumer.nack(first[2])
    assert [m.value for m in await consumer.getmany(5, 0.1)] == [b"2", b"3", b"4"]


async def test_a_cycle_of_full_queues_is_let_through_instead_of_deadlocking() -> None:
    # Two workers feeding each other (like SPE re-injecting into Photon), both queues full.
    bus = MemoryBus(partitions=1, capacity=2, deadlock_check_s=0.02)
    handled: list[bytes] = []

    async def worker(group: str, source: str, target: str, hops: int) -> None:
        async with bus.consume(group, [source]) as consumer:
            while len(handled) < hops:
                for message in await consumer.getmany(1, 0.05):
                    handled.append(message.value)
                    if int(message.value) > 0:
                        await bus.publish(target, "k", b"%d" % (int(message.value) - 1))
                        await bus.publish(target, "k", b"%d" % (int(message.value) - 1))
                    await consumer.ack(message)

    tasks = [asyncio.create_task(worker("ga", "a", "b", 30)), asyncio.create_task(worker("gb", "b", "a", 30))]
    await asyncio.sleep(0.01)
    await bus.publish("a", "k", b"6")
    await bus.publish("b", "k", b"6")
    await eventually(lambda: len(handled) >= 30, timeout=10)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert bus.stats.overdrafts > 0


async def test_slowness_alone_never_overfills_a_partition() -> None:
    bus = MemoryBus(partitions=1, capacity=2, deadlock_check_s=0.01)
    consumer = bus.consume("g", ["t"])
    await consumer.start()

    async def slow_consumer() -> None:
        while True:
            for message in await consumer.getmany(1, 0.05):
                await asyncio.sleep(0.03)  # busy in a handler, not blocked on the bus
                await consumer.ack(message)

    task = asyncio.create_task(slow_consumer())
    for i in range(8):
        await bus.publish("t", "k", b"%d" % i)
        assert bus.depth(["t"])["t"] <= 2
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert bus.stats.overdrafts == 0


async def test_stopping_the_bus_releases_waiting_publishers_and_consumers() -> None:
    bus = MemoryBus(partitions=1, capacity=1)
    consumer = bus.consume("g", ["t"])
    await consumer.start()
    await bus.publish("t", "k", b"0")
    publisher = asyncio.create_task(bus.publish("t", "k", b"1"))
    other = bus.consume("h", ["u"])
    waiting = asyncio.create_task(other.getmany(1, 30))
    await asyncio.sleep(0.02)
    await bus.stop()
    with pytest.raises(BusClosed):
        await publisher
    with pytest.raises(BusClosed):
        await waiting
