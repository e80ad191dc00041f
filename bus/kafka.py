"""The Kafka driver (aiokafka): idempotent producer, consumer groups with manual commits.

* Producer: ``enable_idempotence=True``, ``acks="all"``; ``publish`` returns when the
  brokers acknowledged the message, so a runner's ack always follows its outputs.
* Consumers: one ``AIOKafkaConsumer`` per group member, ``enable_auto_commit=False``,
  offsets committed by ``ack`` only; ``auto_offset_reset="earliest"`` so a new group
  sees what was published before it first joined. ``instance_id`` turns on static
  membership (``group_instance_id``).
* Topics: provisioned through the admin API on ``start``; a broker without it (such
  as librdkafka's mock cluster) is logged and tolerated — topics must then exist.
* Bootstrap servers: ``bootstrap=`` or the ``KAFKA_BOOTSTRAP`` environment variable.
* Group session timeout: ``session_timeout_ms=`` or ``KAFKA_SESSION_TIMEOUT_MS`` (default
  10 s): how long a member that stopped heartbeating (a killed worker) holds its partitions
  when no restart under the same static member id claims them first. Heartbeats go out at a
  third of it, at most once a second.

librdkafka's mock cluster answers a follower's SyncGroup with INVALID_REQUEST
when the leader's SyncGroup (which carries every member's assignment) arrives
first. ``leader_sync_delay_s`` makes the elected leader wait that long before
sending its SyncGroup, which is harmless on a real broker and lets groups of two
or more form on the mock; should it still lose the race, the member is rebuilt
(``KafkaConsumer.getmany``) and unacknowledged messages are redelivered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.structs import TopicPartition

from bus.base import BusClosed, BusError, Record, StartAt
from bus.kafka_members import KafkaConsumer, KafkaReader
from bus.topics import ALL_TOPICS, DEFAULT_PARTITIONS

log = logging.getLogger(__name__)

DEFAULT_SESSION_TIMEOUT_MS = 10_000
#: Keys whose murmur2 hash is remembered (a cell's events all carry its EID as key).
KEY_HASH_CACHE_SIZE = 65_536


@functools.lru_cache(maxsize=KEY_HASH_CACHE_SIZE)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioner (murmur2 of the key, the partition every Kafka client picks),
    with each key's hash computed once: aiokafka's murmur2 is pure Python, and every event of a
    cell carries the same key. A keyless record goes where the default partitioner sends it."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(key) % len(all_partitions)]


class KafkaBus:
    """A bus on Kafka brokers. Options are plain keyword arguments (see the module docstring)."""

    name = "kafka"

    def __init__(
        self,
        *,
        bootstrap: str | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        replication_factor: int = 1,
        provision: Sequence[str] = ALL_TOPICS,
        client_id: str = "beamline",
        session_timeout_ms: int | None = None,
        heartbeat_interval_ms: int | None = None,
        leader_sync_delay_s: float = 0.3,
        max_message_bytes: int = 8 * 1024 * 1024,
        linger_ms: int = 2,
        fetch_max_wait_ms: int = 50,
        admin_timeout_s: float = 10.0,
    ) -> None:
        servers = bootstrap or os.environ.get("KAFKA_BOOTSTRAP", "")
        if not servers:
            raise BusError("no Kafka bootstrap servers: set KAFKA_BOOTSTRAP (host:port) or pass bootstrap=")
        self.bootstrap = servers
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.provision = tuple(provision)
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms or _session_timeout_from_env()
        self.heartbeat_interval_ms = heartbeat_interval_ms or min(1_000, self.session_timeout_ms // 3)
        self.leader_sync_delay_s = leader_sync_delay_s
        self.max_message_bytes = max_message_bytes
        self.linger_ms = linger_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.admin_timeout_s = admin_timeout_s
        self.closed = False
        self._producer: Any = None
        self._admin: Any = None
        self._meta: Any = None
        self._start_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        async with self._start_lock:
            self.closed = False
            if self._producer is not None:
                return
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=self.linger_ms,
                max_batch_size=256 * 1024,
                max_request_size=self.max_message_bytes,
                partitioner=key_partitioner,
            )
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                raise BusError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from None
            self._producer = producer
            await self._provision_topics()

    async def stop(self) -> None:
        self.closed = True
        for client in (self._producer, self._meta, self._admin):
            if client is not None:
                try:
                    await client.close() if client is self._admin else await client.stop()
                except KafkaError as exc:  # closing is best effort
                    log.debug("closing %s: %s", type(client).__name__, exc)
        self._producer = self._meta = self._admin = None

    async def _provision_topics(self) -> None:
        if not self.provision:
            return
        admin = await self._admin_client()
        if admin is None:
            return
        wanted = [NewTopic(t, self.partitions, self.replication_factor) for t in self.provision]
        try:
            await asyncio.wait_for(admin.create_topics(wanted), self.admin_timeout_s)
        except TopicAlreadyExistsError:
            pass
        except Exception as exc:  # noqa: BLE001 - any failure here is tolerated by contract
            # e.g. librdkafka's mock: no controller in its metadata, no CreateTopics.
            log.warning("topic provisioning unavailable on %s (%s: %s); topics must already exist",
                        self.bootstrap, type(exc).__name__, exc)

    async def _admin_client(self) -> Any:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin")
            try:
                await asyncio.wait_for(admin.start(), self.admin_timeout_s)
            except (KafkaError, TimeoutError, OSError) as exc:
                log.warning("Kafka admin API unavailable on %s: %s", self.bootstrap, exc)
                await admin.close()
                return None
            self._admin = admin
        return self._admin

    # ------------------------------------------------------------------ publishing

    def _require_producer(self) -> Any:
        if self.closed:
            raise BusClosed("kafka bus is stopped")
        if self._producer is None:
            raise BusError("kafka bus is not started (await bus.start())")
        return self._producer

    async def publish(self, topic: str, key: str | None, value: bytes) -> None:
        producer = self._require_producer()
        await producer.send_and_wait(topic, value=value, key=_key_bytes(key))

    async def publish_many(self, records: Sequence[Record]) -> None:
        """Send everything, then wait for every acknowledgement (the producer batches them)."""
        producer = self._require_producer()
        pending = [await producer.send(topic, value=value, key=_key_bytes(key)) for topic, key, value in records]
        if pending:
            await asyncio.gather(*pending)

    # ------------------------------------------------------------------ consuming

    def consume(self, group: str, topics: Sequence[str], *, instance_id: str | None = None) -> KafkaConsumer:
        return KafkaConsumer(self, group, tuple(topics), instance_id)

    def read(self, topics: Sequence[str], *, start: StartAt = "latest", since_ms: int | None = None) -> KafkaReader:
        return KafkaReader(self, tuple(topics), start, since_ms)

    def consumer_options(self) -> dict[str, Any]:
        """Settings shared by every consumer this bus creates."""
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "fetch_max_wait_ms": self.fetch_max_wait_ms,
            "max_partition_fetch_bytes": self.max_message_bytes,
            "fetch_max_bytes": max(self.max_message_bytes, 50 * 1024 * 1024),
        }

    async def partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        """Every partition of ``topics`` (the producer's metadata; unknown topics raise)."""
        producer = self._require_producer()
        found: list[TopicPartition] = []
        for topic in topics:
            for index in sorted(await producer.partitions_for(topic)):
                found.append(TopicPartition(topic, index))
        return found

    async def _metadata_consumer(self) -> Any:
        if self._meta is None:
            meta = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-meta",
                                    enable_auto_commit=False)
            await meta.start()
            self._meta = meta
        return self._meta

    async def lag(self, group: str, topics: Sequence[str]) -> int:
        return sum((await self.lag_by_partition(group, topics)).values())

    async def lag_by_partition(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """(topic, partition) -> messages ``group`` has not committed there yet."""
        admin = await self._admin_client()
        if admin is None:
            raise BusError("cannot compute consumer lag without the Kafka admin API")
        partitions = await self.partitions_of(topics)
        if not partitions:
            return {}
        # Committed offsets first, end offsets second: see Bus.lag.
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        meta = await self._metadata_consumer()
        ends = await meta.end_offsets(partitions)
        starts = await meta.beginning_offsets(partitions)
        pending = {}
        for tp in partitions:
            mark = committed.get(tp)
            done = mark.offset if mark is not None and mark.offset >= 0 else starts[tp]
            pending[(tp.topic, tp.partition)] = max(0, ends[tp] - done)
        return pending


def _session_timeout_from_env() -> int:
    raw = os.environ.get("KAFKA_SESSION_TIMEOUT_MS", "")
    if not raw:
        return DEFAULT_SESSION_TIMEOUT_MS
    try:
        value = int(raw)
    except ValueError:
        raise BusError(f"KAFKA_SESSION_TIMEOUT_MS must be a whole number of milliseconds, not {raw!r}") from None
    if value < 1_000:
        raise BusError(f"KAFKA_SESSION_TIMEOUT_MS must be at least 1000 (got {value})")
    return value


def _key_bytes(key: str | None) -> bytes | None:
    return key.encode("utf-8") if key is not None else None
