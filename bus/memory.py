"""The embedded bus (the default driver): in-process asyncio, bounded, with consumer groups.

Product code, not a test double. Each topic has ``partitions`` partitions; a
message goes to the partition chosen by a stable hash of its key (blake2b), so
one key's messages keep their order. A partition holds the messages that some
consumer group still has to acknowledge; at ``capacity`` such messages,
``publish`` waits (backpressure) until the slowest group acknowledges more.
Beyond that a partition keeps at most ``retention`` messages for groupless
readers (tail, flag followers), and only while one is attached or no group
consumes the topic; a reader never slows publishers — one that falls further
behind skips ahead and counts the loss. Messages of a topic nobody consumes that
fall out of retention are counted in ``stats.dropped``.

Consumer groups are emulated as on Kafka: the group's partitions are split among
its members (sorted by instance id, then join order), every group keeps its own
committed offsets, and when a member leaves (or a new one joins) each moved
partition restarts from the group's committed offset, so unacknowledged messages
are delivered again. ``nack`` rewinds one partition for redelivery.

Bounded queues plus a feedback loop in the pipeline (SPE re-injecting cells)
could wait on each other forever. A publisher that has waited
``deadlock_check_s`` checks whether every consumer that could free space is itself
blocked publishing (following the chain of blocked tasks); only then it is let
through over capacity, counted in ``stats.overdrafts``. Ordinary slowness never
overfills a partition.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bus.base import BusClosed, Message, Record, StartAt
from bus.codec import DecodedMessages
from bus.memory_members import MemoryConsumer, MemoryReader
from bus.topics import DEFAULT_PARTITIONS


def partition_for(key: str | None, partitions: int) -> int:
    """Stable partition of ``key`` (blake2b, identical in every process); ``None`` -> 0."""
    if key is None:
        return 0
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


class Partition:
    """One partition's retained messages ``[base, end)`` and each group's committed offset."""

    __slots__ = ("topic", "index", "_log", "base", "end", "committed", "owners", "space")

    def __init__(self, topic: str, index: int) -> None:
        self.topic = topic
        self.index = index
        # A deque popped as messages are trimmed: a trimmed message is released at once (a list
        # compacted lazily kept up to a thousand dead messages per partition, a run's whole traffic).
        self._log: deque[Message] = deque()
        self.base = 0
        self.end = 0
        self.committed: dict[str, int] = {}
        self.owners: dict[str, MemoryConsumer] = {}
        self.space = asyncio.Event()

    @property
    def size(self) -> int:
        return self.end - self.base

    def append(self, key: str | None, value: bytes) -> Message:
        message = Message(self.topic, self.index, self.end, key, value, time.time_ns() // 1_000_000)
        self._log.append(message)
        self.end += 1
        return message

    def slice(self, start: int, stop: int) -> list[Message]:
        first = start - self.base
        return list(itertools.islice(self._log, first, first + (stop - start)))

    def first_offset_at(self, since_ms: int) -> int:
        for message in self.slice(self.base, self.end):
            if message.timestamp_ms >= since_ms:
                return message.offset
        return self.end

    def trim_to(self, offset: int) -> int:
        """Forget messages below ``offset``; returns how many were dropped."""
        dropped = min(offset, self.end) - self.base
        if dropped <= 0:
            return 0
        for _ in range(dropped):
            self._log.popleft()
        self.base += dropped
        return dropped


@dataclass
class MemoryBusStats:
    """Counters a user can inspect: how often backpressure and the deadlock breaker acted."""

    published: int = 0
    backpressure_waits: int = 0
    overdrafts: int = 0
    dropped: int = 0


class MemoryBus:
    """In-process bus. ``capacity``: unacknowledged messages a partition may hold."""

    name = "memory"
    #: How often run_pipeline checks for quiescence (lag is a cheap in-memory sum here).
    lag_poll_s = 0.01

    def __init__(
        self,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        capacity: int = 1024,
        retention: int | None = None,
        deadlock_check_s: float = 0.05,
    ) -> None:
        if partitions < 1 or capacity < 1:
            raise ValueError("partitions and capacity must be positive")
        self.partitions = partitions
        self.capacity = capacity
        self.retention = retention if retention is not None else capacity
        self.deadlock_check_s = deadlock_check_s
        self.stats = MemoryBusStats()
        self.closed = False
        #: Every group is handed the very bytes object published: the runners on this bus share
        #: what they decode (``bus.codec.DecodedMessages``).
        self.decoded = DecodedMessages()
        self._topics: dict[str, list[Partition]] = {}
        self._topic_groups: dict[str, set[str]] = {}
        self._members: dict[str, list[MemoryConsumer]] = {}
        self._readers: dict[str, set[MemoryReader]] = {}
        self._blocked: dict[asyncio.Task[object], Partition] = {}
        self._join_order = itertools.count()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.closed = False

    async def stop(self) -> None:
        """Close the bus: waiting publishers get ``BusClosed``, consumers and readers end."""
        self.closed = True
        for parts in self._topics.values():
            for part in parts:
                part.space.set()
        for members in self._members.values():
            for member in members:
                member.wake()
        for readers in self._readers.values():
            for reader in readers:
                reader.wake()

    # ------------------------------------------------------------------ publishing

    def topic(self, name: str) -> list[Partition]:
        """The partitions of topic ``name`` (created on first use)."""
        parts = self._topics.get(name)
        if parts is None:
            parts = [Partition(name, i) for i in range(self.partitions)]
            self._topics[name] = parts
            self._topic_groups[name] = set()
        return parts

    async def publish(self, topic: str, key: str | None, value: bytes) -> None:
        if self.closed:
            raise BusClosed("memory bus is stopped")
        if not isinstance(value, bytes):
            raise TypeError(f"message value must be bytes, not {type(value).__name__}")
        part = self.topic(topic)[partition_for(key, self.partitions)]
        if self._unacknowledged(part) >= self.capacity:
            await self._wait_for_space(part)
        part.append(key, value)
        self.stats.published += 1
        if part.size > self.retention:
            self._trim(part)
        for owner in part.owners.values():
            owner.wake()
        for reader in self._readers.get(topic, ()):
            reader.wake()

    async def publish_many(self, records: Sequence[Record]) -> None:
        for topic, key, value in records:
            await self.publish(topic, key, value)

    async def _wait_for_space(self, part: Partition) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.stats.backpressure_waits += 1
        self._blocked[task] = part
        try:
            while self._unacknowledged(part) >= self.capacity:
                if self.closed:
                    raise BusClosed("memory bus is stopped")
                part.space.clear()
                try:
                    async with asyncio.timeout(self.deadlock_check_s):
                        await part.space.wait()
                except TimeoutError:
                    if self._deadlocked(task, part):
                        self.stats.overdrafts += 1
                        return
        finally:
            del self._blocked[task]

    def _deadlocked(self, me: asyncio.Task[object], start: Partition) -> bool:
        """True when no consumer able to free ``start`` can run: all are blocked publishing."""
        seen: set[int] = set()
        frontier = [start]
        while frontier:
            part = frontier.pop()
            if id(part) in seen:
                continue
            seen.add(id(part))
            holders = self._topic_groups[part.topic]
            low = min(part.committed[g] for g in holders)
            for group in holders:
                if part.committed[group] != low:
                    continue
                owner = part.owners.get(group)
                if owner is None or owner.task is None:
                    return False  # waiting for a member to join is backpressure, not deadlock
                if owner.task is me:
                    continue
                blocked_on = self._blocked.get(owner.task)
                if blocked_on is None:
                    return False  # that consumer is running and will acknowledge
                frontier.append(blocked_on)
        return True

    # ------------------------------------------------------------------ groups

    def consume(self, group: str, topics: Sequence[str], *, instance_id: str | None = None) -> MemoryConsumer:
        return MemoryConsumer(self, group, tuple(topics), instance_id)

    def read(self, topics: Sequence[str], *, start: StartAt = "latest", since_ms: int | None = None) -> MemoryReader:
        return MemoryReader(self, tuple(topics), start, since_ms)

    def join(self, member: MemoryConsumer) -> int:
        """Add ``member`` to its group (rebalancing); returns its join sequence number."""
        if self.closed:
            raise BusClosed("memory bus is stopped")
        for topic in member.topics:
            parts = self.topic(topic)
            holders = self._topic_groups[topic]
            if member.group not in holders:
                holders.add(member.group)
                for part in parts:
                    part.committed[member.group] = part.base
        self._members.setdefault(member.group, []).append(member)
        order = next(self._join_order)
        member.join_seq = order
        self._rebalance(member.group)
        return order

    def leave(self, member: MemoryConsumer) -> None:
        members = self._members.get(member.group, [])
        if member in members:
            members.remove(member)
            self._rebalance(member.group)

    def delete_group(self, group: str) -> None:
        """Forget a group that has no members, releasing the messages it held back."""
        if self._members.get(group):
            raise ValueError(f"group {group!r} still has members")
        self._members.pop(group, None)
        for topic, holders in self._topic_groups.items():
            if group in holders:
                holders.discard(group)
                for part in self._topics[topic]:
                    part.committed.pop(group, None)
                    self._trim(part)

    def _rebalance(self, group: str) -> None:
        members = sorted(
            self._members.get(group, []),
            key=lambda m: (m.instance_id is None, m.instance_id or "", m.join_seq),
        )
        topics = sorted({t for m in members for t in m.topics} | self._held_topics(group))
        for topic in topics:
            subscribers = [m for m in members if topic in m.topics]
            for part in self.topic(topic):
                owner = subscribers[part.index % len(subscribers)] if subscribers else None
                previous = part.owners.get(group)
                if previous is owner:
                    continue
                if previous is not None:
                    previous.revoke(part)
                    del part.owners[group]
                if owner is not None:
                    part.owners[group] = owner
                    owner.assign(part, part.committed[group])
        for member in members:
            member.wake()

    def _held_topics(self, group: str) -> set[str]:
        return {topic for topic, holders in self._topic_groups.items() if group in holders}

    def commit(self, group: str, part: Partition, offset: int) -> None:
        if offset > part.committed.get(group, 0):
            part.committed[group] = offset
            self._trim(part)

    def _unacknowledged(self, part: Partition) -> int:
        """Messages the slowest group has not acknowledged (0 when no group consumes the topic)."""
        holders = self._topic_groups[part.topic]
        if not holders:
            return 0
        return part.end - min(part.committed[g] for g in holders)

    def _trim(self, part: Partition) -> None:
        """Forget what no group needs and no attached reader may still read (within retention)."""
        holders = self._topic_groups[part.topic]
        kept_for_readers = part.end - self.retention
        needed = min(part.committed[g] for g in holders) if holders else kept_for_readers
        readers = self._readers.get(part.topic)
        if readers:
            slowest = min(r.positions.get(part, part.end) for r in readers)
            needed = min(needed, max(slowest, kept_for_readers))
        if needed > part.base:
            dropped = part.trim_to(needed)
            if not holders:
                self.stats.dropped += dropped
            part.space.set()

    def reader_moved(self, part: Partition) -> None:
        """A reader advanced: acknowledged messages it held may go."""
        if part.base < part.end:
            self._trim(part)

    def add_reader(self, reader: MemoryReader) -> None:
        for topic in reader.topics:
            self.topic(topic)
            self._readers.setdefault(topic, set()).add(reader)

    def remove_reader(self, reader: MemoryReader) -> None:
        for topic in reader.topics:
            self._readers.get(topic, set()).discard(reader)

    async def lag(self, group: str, topics: Sequence[str]) -> int:
        total = 0
        for topic in topics:
            for part in self.topic(topic):
                total += part.end - part.committed.get(group, part.base)
        return total

    def depth(self, topics: Iterable[str] | None = None) -> dict[str, int]:
        """Retained messages per topic (what the bus holds in memory now)."""
        names = list(topics) if topics is not None else list(self._topics)
        return {name: sum(p.size for p in self.topic(name)) for name in names}
