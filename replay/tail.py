"""``beamline tail``: follow events live, one line each (or JSON), without disturbing anyone.

* On Kafka the topics are read by manual partition assignment — no consumer
  group — so a tail never takes partitions (work) away from the workers.
* On the embedded bus the bus lives inside the running process, so tail follows
  the store instead, by its monotonically increasing ``seq``.

Filters (``--eid --cell --stage --type`` and topics) keep matching events only;
``--stage`` matches a beam's own stage (ingest, rewrite, ...) or the producing
stage (codex, photon, ...). A message that cannot be decoded is never skipped:
it is shown as undecodable with its reason (forensics).
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bus.base import Bus, BusClosed, Message, StartAt
from bus.topics import ALL_TOPICS, topic_for
from contracts.envelope import Envelope
from contracts.registry import ContractError, decode


@dataclass(frozen=True)
class TailFilter:
    """Which events to show; ``None``/empty means "any"."""

    eid: str | None = None
    cell: str | None = None
    stage: str | None = None
    type: str | None = None
    topics: tuple[str, ...] = ()

    def matches(self, envelope: Envelope, topic: str | None) -> bool:
        if self.eid is not None and envelope.eid != self.eid:
            return False
        if self.cell is not None and envelope.cell_id != self.cell:
            return False
        if self.type is not None and envelope.type != self.type:
            return False
        if self.stage is not None and self.stage not in (envelope.producer.stage, envelope.payload.get("stage")):
            return False
        return not self.topics or topic in self.topics


@dataclass(frozen=True)
class TailItem:
    """One line of tail output: a decoded event, or an undecodable message with its reason."""

    topic: str | None
    envelope: Envelope | None
    partition: int | None = None
    offset: int | None = None
    seq: int | None = None
    key: str | None = None
    raw: bytes | None = None
    reason: str | None = None
    error: str | None = None


Emit = Callable[[TailItem], None]

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> timedelta:
    """``"10m"`` -> 10 minutes; units s, m, h, d (seconds when none)."""
    match = _SINCE.match(text)
    if match is None:
        raise ValueError(f"--since expects a duration like 30s, 10m, 2h or 1d, got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def topic_of(envelope: Envelope) -> str | None:
    try:
        return topic_for(envelope)
    except KeyError:
        return None


def item_of_message(message: Message) -> TailItem:
    try:
        envelope = decode(message.value)
    except ContractError as exc:
        return TailItem(message.topic, None, message.partition, message.offset, key=message.key,
                        raw=message.value, reason=exc.reason, error=str(exc))
    return TailItem(message.topic, envelope, message.partition, message.offset, key=message.key)


async def tail_bus(
    bus: Bus,
    emit: Emit,
    *,
    flt: TailFilter = TailFilter(),
    start: StartAt = "latest",
    since: timedelta | None = None,
    follow: bool = True,
    stop: asyncio.Event | None = None,
    poll_s: float = 0.5,
) -> int:
    """Follow ``flt.topics`` (default: all) on ``bus`` outside any group; returns lines emitted.

    Without ``follow`` it stops once it has read up to where the topics ended at start.
    """
    stop = stop or asyncio.Event()
    since_ms = int((datetime.now(UTC) - since).timestamp() * 1000) if since is not None else None
    shown = 0
    async with bus.read(list(flt.topics or ALL_TOPICS), start=start, since_ms=since_ms) as reader:
        while not stop.is_set():
            try:
                messages = await reader.getmany(500, poll_s)
            except BusClosed:
                break
            for message in messages:
                item = item_of_message(message)
                if item.envelope is None or flt.matches(item.envelope, message.topic):
                    emit(item)
                    shown += 1
            if not messages and not follow and await reader.caught_up():
                break
    return shown


async def tail_store(
    store: Any,
    emit: Emit,
    *,
    flt: TailFilter = TailFilter(),
    from_beginning: bool = False,
    since: timedelta | None = None,
    follow: bool = True,
    stop: asyncio.Event | None = None,
    poll_s: float = 0.25,
    batch: int = 500,
) -> int:
    """Follow the store by ``seq`` (``store.events_with_seq``); returns lines emitted."""
    stop = stop or asyncio.Event()
    since_at = datetime.now(UTC) - since if since is not None else None
    cursor = 0 if (from_beginning or since_at is not None) else int(store.max_seq())
    shown = 0
    while not stop.is_set():
        rows = store.events_with_seq(
            cursor, batch, eid=flt.eid, cell_id=flt.cell, types=[flt.type] if flt.type else None, since=since_at,
        )
        for seq, envelope in rows:
            cursor = seq
            topic = topic_of(envelope)
            if flt.matches(envelope, topic):
                emit(TailItem(topic, envelope, seq=seq))
                shown += 1
        if len(rows) < batch:
            if not follow:
                break
            try:
                await asyncio.wait_for(stop.wait(), poll_s)
            except TimeoutError:
                pass
    return shown


# ---------------------------------------------------------------- rendering

_TYPE_STYLE = {
    "BeamEvent": "cyan", "SheetSubmitted": "bold white", "SQIScore": "magenta", "SoulLawDecision": "magenta",
    "CollapseTrace": "blue", "DNAMutation": "green", "PatternMotif": "green", "DeadLetter": "bold red",
    "StageError": "red", "FlagChanged": "yellow",
}


def summary(envelope: Envelope) -> str:
    """The few payload fields that say what happened."""
    p = envelope.payload
    picks: dict[str, tuple[str, ...]] = {
        "BeamEvent": ("stage", "token", "generation"),
        "SQIScore": ("qscore", "goal_match_score", "drift"),
        "SoulLawDecision": ("allowed", "reasons"),
        "DeadLetter": ("reason", "topic", "stage", "error"),
        "FlagChanged": ("name", "value"),
        "DNAMutation": ("mutation_id",),
        "PatternMotif": ("kind", "support"),
        "StageError": ("stage",),
    }
    fields = picks.get(envelope.type, ())
    parts = [f"{name}={str(p[name])[:60]}" for name in fields if p.get(name) is not None]
    return " ".join(parts)


def to_json(item: TailItem) -> str:
    where: dict[str, Any] = {"topic": item.topic, "partition": item.partition, "offset": item.offset, "seq": item.seq}
    where = {k: v for k, v in where.items() if v is not None}
    if item.envelope is None:
        body = {"undecodable": True, "reason": item.reason, "error": item.error, "key": item.key,
                "raw_b64": base64.b64encode(item.raw or b"").decode("ascii")}
        return orjson.dumps({**where, **body}).decode()
    return orjson.dumps({**where, "event": item.envelope.model_dump(mode="json")}).decode()


def to_text(item: TailItem) -> Any:
    """A Rich ``Text`` line (colour by event type; undecodable in red)."""
    from rich.text import Text

    line = Text()
    where = item.topic or "?"
    if item.partition is not None:
        where += f"[{item.partition}]@{item.offset}"
    elif item.seq is not None:
        where += f" #{item.seq}"
    if item.envelope is None:
        line.append("UNDECODABLE ", style="bold red")
        line.append(f"{where} key={item.key} ({len(item.raw or b'')} bytes) {item.reason}: {item.error}")
        return line
    env = item.envelope
    line.append(env.occurred_at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] + " ", style="dim")
    line.append(f"{where} ", style="dim")
    line.append(f"{env.type}", style=_TYPE_STYLE.get(env.type, "white"))
    line.append(f" {env.producer.stage}")
    if env.cell_id:
        line.append(f" cell={env.cell_id}")
    if env.eid:
        line.append(f" eid=…{env.eid[-12:]}", style="dim")
    extra = summary(env)
    if extra:
        line.append(f" {extra}")
    return line


def tail_topics(names: Sequence[str]) -> tuple[str, ...]:
    """Accept ``beamline.photon`` or just ``photon``; an unknown topic is an error naming the known ones."""
    chosen: list[str] = []
    for name in names:
        full = name if name.startswith("beamline.") else f"beamline.{name}"
        if full not in ALL_TOPICS:
            raise ValueError(f"unknown topic {name!r} (known: {', '.join(t.split('.', 1)[1] for t in ALL_TOPICS)})")
        chosen.append(full)
    return tuple(chosen)
