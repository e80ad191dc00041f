"""The vector-beam batching window: how many waiting messages QWave takes at once.

Delivery contract (at-least-once safe):

* The runner pulls messages from its consumer through ``BatchWindow.collect``: it
  waits for a first message, then keeps taking messages for at most
  ``max_wait_s`` or until ``max_size`` are held.
* It calls ``QWaveStage.handle_batch(envelopes, ctx)`` once for the whole batch;
  the result is one list of output envelopes per input, aligned with
  ``envelopes``. It publishes and persists every output, and only then
  acknowledges every input of the batch. A crash before that point redelivers
  the inputs. (A runner that already pulls batches — ``bus.runner`` uses
  ``consumer.getmany`` — can pass its batch straight to ``handle_batch``.)
* ``handle_batch`` computes each input's outputs exactly as ``handle`` would for
  that input alone (same event ids, same payloads apart from the ``runtime``
  block and wall-clock fields), so a redelivered message — alone or in a
  different batch — produces the same events and the store's unique key drops
  the duplicates. ``handle(envelope)`` is simply a batch of one.

Batching is a throughput optimisation only: which messages happen to share a
window never changes a computed value (vmapped and one-by-one execution agree
bit for bit, see tests/qwave/test_qwave_stage.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchWindow:
    """A batching window bounded in size and time."""

    max_size: int = 64
    max_wait_s: float = 0.01

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ValueError("max_size must be at least 1")
        if self.max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")

    async def collect(self, receive: Callable[[], Awaitable[T]]) -> list[T]:
        """Wait (unbounded) for one item, then take more until the window closes.

        ``receive`` is e.g. ``asyncio.Queue.get``; cancelling it on time-out must not
        lose an item (true for ``asyncio.Queue``), since the window cancels the last
        pending receive when the deadline passes.
        """
        batch = [await receive()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(receive(), timeout=remaining))
            except TimeoutError:
                break
        return batch

    def take_ready(self, queue: asyncio.Queue[T]) -> list[T]:
        """Non-blocking variant: up to ``max_size`` items already waiting in ``queue``."""
        batch: list[T] = []
        while len(batch) < self.max_size:
            try:
                batch.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch
