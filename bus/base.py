"""The bus protocol every driver implements, and the registry that picks a driver by name.

A bus moves opaque bytes between stages. ``publish(topic, key, value)`` returns
once the message is accepted (in the memory bus: appended to its partition; on
Kafka: acknowledged by the brokers). ``consume(group, topics)`` joins a consumer
group: the partitions of ``topics`` are split among the group's members, each
group keeps its own committed offsets, and a message is *acknowledged* (its
offset committed) only by an explicit ``ack`` — which the runner sends after the
handler's outputs are published and the input is persisted. Messages not
acknowledged when a member fails or leaves are delivered again (at-least-once).
``read(topics)`` follows topics outside any group (it never steals work and never
commits), which is what ``beamline tail`` and flag following use.

Drivers are chosen by name (``create_bus("memory")``) from a registry, never by
if/else; a driver may be registered as a class or lazily as ``"module:attr"`` so
that importing this module never imports aiokafka.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

StartAt = Literal["earliest", "latest"]

#: (topic, key, value) — one message to publish.
Record = tuple[str, "str | None", bytes]


class BusError(RuntimeError):
    """The bus cannot do what was asked (closed, misconfigured, broker unreachable)."""


class BusClosed(BusError):
    """The bus was stopped while the call was waiting."""


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered message. ``offset`` is its position in ``topic``/``partition``."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int = 0


@runtime_checkable
class Consumer(Protocol):
    """A member of a consumer group (an async context manager and an async iterator).

    Contract: messages of one partition arrive in offset order; ``ack`` commits
    the message's offset (and every earlier offset of that partition) for the
    group; ``nack`` asks for redelivery from that message on. An ack for a
    partition this member no longer owns (after a rebalance) is ignored: the new
    owner redelivers it, and deterministic event ids make that harmless.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]:
        """Up to ``max_messages`` messages, waiting at most ``timeout`` seconds for the first."""
        ...

    async def ack(self, message: Message) -> None: ...

    async def ack_many(self, messages: Iterable[Message]) -> None: ...

    async def nack(self, message: Message) -> None: ...

    def assignment(self) -> frozenset[tuple[str, int]]: ...

    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def __anext__(self) -> Message: ...

    async def __aenter__(self) -> Consumer: ...

    async def __aexit__(self, *exc: object) -> None: ...


@runtime_checkable
class Reader(Protocol):
    """Follows topics without a group: no commits, no effect on any consumer group."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def getmany(self, max_messages: int = 500, timeout: float = 0.5) -> list[Message]: ...

    async def caught_up(self) -> bool:
        """True once every partition has been read up to its end as of ``start()``."""
        ...

    async def __aenter__(self) -> Reader: ...

    async def __aexit__(self, *exc: object) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """What every driver offers. ``start``/``stop`` are idempotent."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, key: str | None, value: bytes) -> None: ...

    async def publish_many(self, records: Sequence[Record]) -> None:
        """Publish every record (order kept per partition); returns when all are accepted."""
        ...

    def consume(self, group: str, topics: Sequence[str], *, instance_id: str | None = None) -> Consumer:
        """A group member for ``topics``; it joins on ``start()`` (or ``async with``)."""
        ...

    def read(self, topics: Sequence[str], *, start: StartAt = "latest", since_ms: int | None = None) -> Reader:
        """A groupless reader; ``since_ms`` (epoch ms) overrides ``start`` when given."""
        ...

    async def lag(self, group: str, topics: Sequence[str]) -> int:
        """Messages on ``topics`` not yet acknowledged by ``group``.

        Committed offsets are read before end offsets, so a zero answer means every
        message published before the call was acknowledged — and since a runner
        acknowledges only after publishing its outputs, zero for every group of a
        pipeline means the pipeline is quiescent.
        """
        ...


BusFactory = Callable[..., Bus]
_DRIVERS: dict[str, BusFactory | str] = {}


def register_driver(name: str, factory: BusFactory | str) -> None:
    """Make a driver available to ``create_bus(name)``.

    ``factory`` is a class/callable, or ``"module:attr"`` imported on first use.
    Registering a name again replaces the previous driver.
    """
    _DRIVERS[name] = factory


def driver_names() -> list[str]:
    return sorted(_DRIVERS)


def create_bus(name: str, **options: Any) -> Bus:
    """A new, not yet started bus of driver ``name`` configured with ``options``."""
    try:
        factory = _DRIVERS[name]
    except KeyError:
        raise BusError(f"unknown bus driver {name!r} (known: {', '.join(driver_names())})") from None
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        _DRIVERS[name] = factory
    bus: Bus = factory(**options)
    return bus


register_driver("memory", "bus.memory:MemoryBus")
register_driver("kafka", "bus.kafka:KafkaBus")
