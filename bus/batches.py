"""Runner helpers for batch-capable and deferring stages: widening a batch, backlog, deferral.

* ``widen``: after the first poll, keep polling for ``wait_s`` so inputs arriving
  close together reach one ``handle_batch`` call (a window bounded in time and size).
* ``read_backlog``: ``Bus.lag`` of the groups a stage watches; a bus that cannot
  report lag (no Kafka admin API, a broker error) gives no entry, so the stage sees
  "unknown" and does not defer.
* ``retry_after``: the back-off a stage asked for with a ``BeamEvent(stage="deferred")``.

Batches: a stage with ``handle_batch(envelopes, ctx) -> list[list[Envelope]]``
(outputs per input, aligned) gets the batch's decoded, enabled inputs in one call,
so it can share work between them (QWave's vector beams). Its optional
``batch_wait_s`` widens the batch: after the first message the runner keeps
polling that long (or until ``max_batch`` messages) before handling. If the call
raises, or one input's outputs cannot be sealed, those inputs are handled one by
one through ``handle`` with the usual retries and dead letters, so one poison
input never sinks the others. The stage must return for each input what
``handle`` would return for it alone (same ids, same payloads).

Deferral: an output ``BeamEvent(stage="deferred")`` whose ``result.deferral.retry_after_s``
is set means "not now". The runner persists and publishes the outputs so far,
waits that long, and calls ``handle`` again for the same input with
``ctx.deferrals`` one higher and a fresh backlog reading, until the stage stops
deferring (the stage bounds the number of deferrals). The batch is acknowledged
only then, so a crash meanwhile redelivers it, and the held batch is back-pressure.
``ctx.backlog`` holds ``Bus.lag`` of each stage the stage names in
``watches_backlog`` ({stage id: topics}); on a bus that cannot report lag the entry is
absent (the stage then never defers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bus.base import Bus, Consumer, Message, Record
from contracts.envelope import Envelope
from stages.base import StageContext

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What handling one input produced (what to persist and publish), and whether it was deferred."""

    persist: list[Envelope]
    records: list[Record]
    outputs: int = 0
    dead_letter: bool = False
    skipped: bool = False
    retry_after_s: float | None = None  # the stage deferred this input
    message: Message | None = None
    envelope: Envelope | None = None
    deferrals: int = 0


BatchHandler = Callable[[Sequence[Envelope], StageContext], Awaitable[list[list[Envelope]]]]


async def call_batch(handler: BatchHandler, envelopes: list[Envelope], ctx: StageContext,
                     stage_id: str) -> list[list[Envelope]] | None:
    """The batch handler's outputs per input, or None (handle them one by one) when it fails."""
    try:
        produced = await handler(envelopes, ctx)
        if len(produced) != len(envelopes):
            raise ValueError(f"handle_batch returned {len(produced)} output lists for {len(envelopes)} inputs")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - fall back to per-input handling, with its retries
        log.warning("%s: handle_batch failed on %d inputs (%s: %s); handling them one by one",
                    stage_id, len(envelopes), type(exc).__name__, exc)
        return None
    return produced


async def widen(consumer: Consumer, held: int, max_batch: int, wait_s: float) -> list[Message]:
    """Up to ``max_batch - held`` more messages, polling for at most ``wait_s`` seconds."""
    more: list[Message] = []
    deadline = time.monotonic() + wait_s
    while held + len(more) < max_batch:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        more += await consumer.getmany(max_batch - held - len(more), remaining)
    return more


async def read_backlog(bus: Bus, watches: Mapping[str, tuple[str, ...]], *, unavailable: set[str],
                       reader: str) -> dict[str, int]:
    """Unacknowledged messages per watched stage id (group ``beamline.<id>`` on its topics).

    On the memory bus this is a sum over partitions; on Kafka it is consumer lag from
    the admin API (a few round trips per batch of the watching stage).
    """
    backlog: dict[str, int] = {}
    for stage_id, topics in watches.items():
        try:
            backlog[stage_id] = await bus.lag(f"beamline.{stage_id}", topics)
        except Exception as exc:  # noqa: BLE001 - an unreadable backlog must not stop the runner
            if stage_id not in unavailable:
                unavailable.add(stage_id)
                log.warning("%s: backlog of %s unknown (%s); nothing will be deferred", reader, stage_id, exc)
    return backlog


def retry_after(outputs: Sequence[Envelope]) -> float | None:
    """The back-off a stage asked for by emitting a deferred beam, else None."""
    delays = []
    for output in outputs:
        if output.type == "BeamEvent" and output.payload.get("stage") == "deferred":
            deferral = (output.payload.get("result") or {}).get("deferral") or {}
            delay = deferral.get("retry_after_s")
            if isinstance(delay, int | float) and not isinstance(delay, bool):
                delays.append(max(0.0, float(delay)))
    return max(delays) if delays else None
