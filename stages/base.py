"""The stage contract: pure handlers hosted by the runner on any bus.

A stage never imports a bus driver or the store. The runner gives it one input
envelope and a ``StageContext``; the stage returns the envelopes it produces. The
handler may be called more than once for the same input (at-least-once delivery)
and must then return the same events — ids are deterministic (``make_event``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from contracts.envelope import Envelope


class ReadSide(Protocol):
    """Read-only view of the store that stages may consult (never write)."""

    def events(
        self,
        *,
        eid: str | None = None,
        eids: Sequence[str] | None = None,
        container_id: str | None = None,
        sheet_run_id: str | None = None,
        cell_id: str | None = None,
        types: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
        stage: str | Sequence[str] | None = None,
        normal_key: str | None = None,
        unrouted_ingest: bool = False,
    ) -> list[Envelope]:
        """Events matching every filter given, in store order. ``eids``: events under any of
        these EIDs (one read for a batch); ``stage``: the BeamEvent stage;
        ``normal_key``: events whose ``result.normal_key`` is that key; ``unrouted_ingest``:
        ingest beams without a normal_key whose cell Photon has not routed yet."""
        ...


class NoReadSide:
    """A read side that has nothing recorded (pure unit tests, first run)."""

    def events(self, **_: Any) -> list[Envelope]:
        return []


@dataclass
class StageContext:
    """What a handler may read: flags in force, the clock, a seeded random source, the store."""

    flags: Mapping[str, Any]
    flags_digest: str
    clock: Callable[[], datetime]
    reader: ReadSide = field(default_factory=NoReadSide)
    instance: str = "0"
    # Filled by the runner: unacknowledged inputs of the stages this stage declares in
    # ``watches_backlog`` (by stage id), read from the bus when the batch was taken.
    backlog: Mapping[str, int] = field(default_factory=dict)
    # How many times this input was already deferred (the runner retries a deferred input).
    deferrals: int = 0

    def now(self) -> datetime:
        return self.clock()

    def rng(self, *keys: str | int) -> np.random.Generator:
        """A generator seeded only by ``keys`` (run seed, eid, cell...): re-runs draw the same numbers."""
        import hashlib

        material = "|".join(str(k) for k in keys).encode()
        seed = int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")
        return np.random.default_rng(seed)


class Stage(Protocol):
    stage_id: str
    input_topics: tuple[str, ...]

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]: ...
