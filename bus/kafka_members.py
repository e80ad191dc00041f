"""Members of the Kafka bus: a consumer-group member and a groupless reader (aiokafka)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, RebalanceInProgressError
from aiokafka.structs import TopicPartition

from bus.base import BusClosed, Message, StartAt

if TYPE_CHECKING:
    from bus.kafka import KafkaBus

log = logging.getLogger(__name__)

#: Logged (INFO) each time a group member is handed its partitions: a worker holds work from here on.
ASSIGNED_MARK = "holds partitions"
REVOKED_MARK = "gives up partitions"


def _to_messages(batches: dict[Any, list[Any]]) -> list[Message]:
    messages: list[Message] = []
    for tp, records in batches.items():
        for record in records:
            key = record.key.decode("utf-8", "replace") if record.key is not None else None
            messages.append(Message(tp.topic, tp.partition, record.offset, key, record.value or b"", record.timestamp))
    return messages


class _AssignmentLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs every assignment and revocation, so a worker's log shows which partitions it holds."""

    def __init__(self, group: str, instance_id: str | None) -> None:
        self.member = f"{group}[{instance_id}]" if instance_id else group

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            log.info("%s %s %s", self.member, REVOKED_MARK, _partition_names(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("%s %s %s", self.member, ASSIGNED_MARK, _partition_names(assigned) or "(none)")


def _partition_names(partitions: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(partitions))


def partitions_held(log_text: str) -> frozenset[tuple[str, int]]:
    """The (topic, partition)s a member holds according to its log (the lines ``_AssignmentLog`` writes)."""
    held: frozenset[tuple[str, int]] = frozenset()
    for line in log_text.splitlines():
        if ASSIGNED_MARK in line:
            names = line.split(ASSIGNED_MARK, 1)[1].strip()
            held = frozenset((topic, int(index)) for topic, _, index in
                             (name.strip().rpartition(":") for name in names.split(",")) if index.isdigit())
        elif REVOKED_MARK in line:
            held = frozenset()
    return held


class KafkaConsumer:
    """A consumer-group member; offsets are committed only by ``ack``/``ack_many``."""

    def __init__(self, bus: KafkaBus, group: str, topics: tuple[str, ...], instance_id: str | None) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self.instance_id = instance_id
        self.rebuilds = 0
        self._consumer: Any = None

    async def start(self) -> None:
        if self._consumer is not None:
            return
        if self.bus.closed:
            raise BusClosed("kafka bus is stopped")
        consumer = AIOKafkaConsumer(group_id=self.group, group_instance_id=self.instance_id,
                                    **self.bus.consumer_options())
        await consumer.start()
        self._delay_leader_sync(consumer)
        # Subscribing after start() lets the delay above be in place before the first join.
        consumer.subscribe(list(self.topics), listener=_AssignmentLog(self.group, self.instance_id))
        self._consumer = consumer

    def _delay_leader_sync(self, consumer: Any) -> None:
        delay = self.bus.leader_sync_delay_s
        coordinator = getattr(consumer, "_coordinator", None)
        assign = getattr(coordinator, "_perform_assignment", None)
        if delay <= 0 or assign is None:
            return

        async def assign_then_wait(response: Any) -> Any:
            assignments = await assign(response)
            if len(getattr(response, "members", ())) > 1:  # a group of one has no follower to wait for
                await asyncio.sleep(delay)
            return assignments

        coordinator._perform_assignment = assign_then_wait  # type: ignore[union-attr]

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except KafkaError as exc:  # leaving is best effort; the session times out anyway
                log.debug("stopping consumer of %s: %s", self.group, exc)

    async def __aenter__(self) -> KafkaConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _rebuild(self, reason: BaseException) -> None:
        """A fatal client error: drop this member and join again; unacked messages are redelivered."""
        self.rebuilds += 1
        log.warning("consumer of group %s failed (%r); rejoining", self.group, reason)
        await self.close()
        await asyncio.sleep(0.2)
        await self.start()

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]:
        if self.bus.closed:
            raise BusClosed("kafka bus is stopped")
        if self._consumer is None:
            await self.start()
        try:
            batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_messages)
        except KafkaError as exc:
            await self._rebuild(exc)
            return []
        return _to_messages(batches)

    async def ack(self, message: Message) -> None:
        await self.ack_many((message,))

    async def ack_many(self, messages: Iterable[Message]) -> None:
        if self._consumer is None:
            return
        owned = self._consumer.assignment()
        offsets: dict[TopicPartition, int] = {}
        for message in messages:
            tp = TopicPartition(message.topic, message.partition)
            if tp in owned:
                offsets[tp] = max(offsets.get(tp, 0), message.offset + 1)
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
            # The partition moved during a rebalance: its new owner redelivers from the last commit.
            log.info("commit for group %s skipped after rebalance: %s", self.group, exc)

    async def nack(self, message: Message) -> None:
        if self._consumer is None:
            return
        tp = TopicPartition(message.topic, message.partition)
        if tp in self._consumer.assignment():
            self._consumer.seek(tp, message.offset)

    def assignment(self) -> frozenset[tuple[str, int]]:
        if self._consumer is None:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def __aiter__(self) -> KafkaConsumer:
        return self

    async def __anext__(self) -> Message:
        while True:
            try:
                batch = await self.getmany(max_messages=1, timeout=1.0)
            except BusClosed:
                raise StopAsyncIteration from None
            if batch:
                return batch[0]


class KafkaReader:
    """Reads topics by manual partition assignment: no group, no commits, never steals work."""

    def __init__(self, bus: KafkaBus, topics: tuple[str, ...], start: StartAt, since_ms: int | None) -> None:
        self.bus = bus
        self.topics = topics
        self.start_at = start
        self.since_ms = since_ms
        self._consumer: Any = None
        self._ends: dict[Any, int] = {}

    async def start(self) -> None:
        if self._consumer is not None:
            return
        options = self.bus.consumer_options()
        options["auto_offset_reset"] = "latest" if self.start_at == "latest" else "earliest"
        consumer = AIOKafkaConsumer(group_id=None, **options)
        await consumer.start()
        self._consumer = consumer
        partitions = await self.bus.partitions_of(self.topics)
        consumer.assign(partitions)
        if not partitions:
            return
        if self.since_ms is not None:
            # A broker without timestamp lookup (the mock) answers None: read from the start
            # and let getmany drop older messages, which is right either way.
            found = await consumer.offsets_for_times({tp: self.since_ms for tp in partitions})
            starts = await consumer.beginning_offsets(partitions)
            for tp in partitions:
                hit = found.get(tp)
                consumer.seek(tp, hit.offset if hit is not None else starts[tp])
        elif self.start_at == "earliest":
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        self._ends = await consumer.end_offsets(partitions)

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def __aenter__(self) -> KafkaReader:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]:
        if self.bus.closed:
            raise BusClosed("kafka bus is stopped")
        if self._consumer is None:
            await self.start()
        if not self._consumer.assignment():
            await asyncio.sleep(timeout)
            return []
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_messages)
        messages = _to_messages(batches)
        if self.since_ms is not None:
            messages = [m for m in messages if m.timestamp_ms >= self.since_ms]
        return messages

    async def caught_up(self) -> bool:
        if self._consumer is None:
            return False
        for tp, end in self._ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True
