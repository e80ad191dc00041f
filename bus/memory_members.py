"""Members of the memory bus: a consumer-group member and a groupless reader.

Both fetch from the bus's partitions by position; they differ in what they own.
A ``MemoryConsumer`` owns the partitions its group assigned it and commits
offsets for the group; a ``MemoryReader`` owns nothing and commits nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bus.base import BusClosed, Message, StartAt

if TYPE_CHECKING:
    from bus.memory import MemoryBus, Partition


class _Fetcher:
    """Round-robin fetching from positions over a set of partitions, with wake-ups."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.positions: dict[Partition, int] = {}
        self._wakeup = asyncio.Event()
        self._turn = 0
        self.task: asyncio.Task[object] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    def _collect(self, max_messages: int) -> list[Message]:
        batch: list[Message] = []
        parts = list(self.positions)
        if not parts:
            return batch
        self._turn = (self._turn + 1) % len(parts)
        for part in parts[self._turn :] + parts[: self._turn]:
            position = self._clamp(part, self.positions[part])
            take = min(part.end - position, max_messages - len(batch))
            if take > 0:
                batch.extend(part.slice(position, position + take))
                position += take
            self.positions[part] = position
            if len(batch) >= max_messages:
                break
        return batch

    def _clamp(self, part: Partition, position: int) -> int:
        return max(position, part.base)

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]:
        """Up to ``max_messages`` messages, [] after ``timeout`` seconds; ``BusClosed`` once stopped."""
        self.task = asyncio.current_task()
        if self.bus.closed:
            raise BusClosed("memory bus is stopped")
        self._wakeup.clear()
        batch = self._collect(max_messages)
        if batch or timeout <= 0:
            return batch
        try:
            async with asyncio.timeout(timeout):
                while not batch:
                    await self._wakeup.wait()
                    self._wakeup.clear()
                    if self.bus.closed:
                        raise BusClosed("memory bus is stopped")
                    batch = self._collect(max_messages)
        except TimeoutError:
            pass
        return batch

    def __aiter__(self) -> _Fetcher:
        return self

    async def __anext__(self) -> Message:
        """The next message; the iteration ends when the bus is stopped."""
        while True:
            try:
                batch = await self.getmany(max_messages=1, timeout=3600.0)
            except BusClosed:
                raise StopAsyncIteration from None
            if batch:
                return batch[0]


class MemoryConsumer(_Fetcher):
    """A consumer-group member on the memory bus. Joins on ``start()``, leaves on ``close()``."""

    def __init__(self, bus: MemoryBus, group: str, topics: tuple[str, ...], instance_id: str | None) -> None:
        super().__init__(bus)
        self.group = group
        self.topics = topics
        self.instance_id = instance_id
        self.join_seq = -1
        self._joined = False

    async def start(self) -> None:
        if not self._joined:
            self.bus.join(self)
            self._joined = True

    async def close(self) -> None:
        if self._joined:
            self._joined = False
            self.bus.leave(self)
            self.positions.clear()

    async def __aenter__(self) -> MemoryConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def assign(self, part: Partition, position: int) -> None:
        self.positions[part] = position

    def revoke(self, part: Partition) -> None:
        self.positions.pop(part, None)

    def assignment(self) -> frozenset[tuple[str, int]]:
        return frozenset((p.topic, p.index) for p in self.positions)

    def _clamp(self, part: Partition, position: int) -> int:
        return max(position, part.committed.get(self.group, part.base))

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]:
        if not self._joined and not self.bus.closed:
            await self.start()
        return await super().getmany(max_messages, timeout)

    async def ack(self, message: Message) -> None:
        await self.ack_many((message,))

    async def ack_many(self, messages: Iterable[Message]) -> None:
        upto: dict[Partition, int] = {}
        owned = {(p.topic, p.index): p for p in self.positions}
        for message in messages:
            part = owned.get((message.topic, message.partition))
            if part is not None:  # a partition moved away is redelivered by its new owner
                upto[part] = max(upto.get(part, 0), message.offset + 1)
        for part, offset in upto.items():
            self.bus.commit(self.group, part, offset)

    async def nack(self, message: Message) -> None:
        for part, position in self.positions.items():
            if (part.topic, part.index) == (message.topic, message.partition):
                self.positions[part] = min(position, message.offset)
                self.wake()
                return


class MemoryReader(_Fetcher):
    """Follows topics outside any group; a reader too slow for retention skips ahead (``lost``)."""

    def __init__(self, bus: MemoryBus, topics: tuple[str, ...], start: StartAt, since_ms: int | None) -> None:
        super().__init__(bus)
        self.topics = topics
        self.start_at = start
        self.since_ms = since_ms
        self.lost = 0
        self._ends: dict[Partition, int] = {}

    async def start(self) -> None:
        if self._ends or self.positions:
            return
        if self.bus.closed:
            raise BusClosed("memory bus is stopped")
        self.bus.add_reader(self)
        for topic in self.topics:
            for part in self.bus.topic(topic):
                if self.since_ms is not None:
                    position = part.first_offset_at(self.since_ms)
                else:
                    position = part.base if self.start_at == "earliest" else part.end
                self.positions[part] = position
                self._ends[part] = part.end

    async def close(self) -> None:
        self.bus.remove_reader(self)
        for part in self.positions:
            self.bus.reader_moved(part)

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]:
        if not self._ends and not self.bus.closed:
            await self.start()
        batch = await super().getmany(max_messages, timeout)
        for part in {(m.topic, m.partition): self.bus.topic(m.topic)[m.partition] for m in batch}.values():
            self.bus.reader_moved(part)
        return batch

    async def __aenter__(self) -> MemoryReader:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _clamp(self, part: Partition, position: int) -> int:
        if position < part.base:
            self.lost += part.base - position
            return part.base
        return position

    async def caught_up(self) -> bool:
        return all(self.positions[p] >= end for p, end in self._ends.items())
