"""Group commit for async producers: many small ``add`` calls, few transactions.

A batch is written when it reaches ``max_batch`` envelopes or when the oldest
buffered envelope has waited ``max_delay_s`` — whichever comes first — so both
throughput (large transactions) and latency (a lone event is not held back)
stay bounded. Batches are written one at a time, in ``add`` order, so ``seq``
follows the order events were added.

``add`` only buffers (and applies backpressure by writing inline when the buffer
is full); ``add_and_wait`` returns once the envelope is committed, which is what
a consumer needs before it acknowledges its input. A failed write keeps its
batch at the front of the buffer for the next flush and re-raises; a failure in
a timer-triggered write is raised by the next ``add``/``flush``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import TracebackType

from contracts.envelope import Envelope
from store.beam_store import BeamStore


class BatchWriter:
    """Size- and latency-bounded batching of ``BeamStore.persist_beam_events`` for asyncio code."""

    def __init__(
        self,
        store: BeamStore,
        *,
        max_batch: int = 500,
        max_delay_s: float = 0.05,
        offload: bool | None = None,
    ) -> None:
        if max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_s >= 0")
        self.store = store
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        # Writing in a worker thread keeps the event loop responsive; an in-memory
        # SQLite store shares one connection, so it is written on the loop thread.
        self.offload = (not store.is_memory) if offload is None else offload
        self.stored = 0  # envelopes newly stored through this writer
        self._buffer: list[Envelope] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        # Envelopes ever added / ever committed. Batches commit in FIFO order, so the
        # i-th envelope added is durable exactly when _written >= i.
        self._added = 0
        self._written = 0
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_task: asyncio.Task[int] | None = None
        self._error: BaseException | None = None

    @property
    def pending(self) -> int:
        """Envelopes added and not yet committed (buffered or being written)."""
        return self._added - self._written

    async def add(self, envelope: Envelope) -> None:
        """Buffer one envelope; writes inline when the batch is full (backpressure)."""
        await self.add_many([envelope])

    async def add_many(self, envelopes: Iterable[Envelope]) -> None:
        self._raise_pending_error()
        items = list(envelopes)
        self._buffer.extend(items)
        self._added += len(items)
        if len(self._buffer) >= self.max_batch:
            await self.flush()
        elif self._buffer:
            self._arm_timer()

    async def add_and_wait(self, envelopes: Iterable[Envelope]) -> None:
        """Buffer ``envelopes`` and return once they are committed (group commit with other callers)."""
        await self.add_many(envelopes)
        if self._written >= self._added:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._added, future))
        await future

    async def flush(self) -> int:
        """Write everything buffered now, batch by batch; returns how many envelopes were new."""
        self._raise_pending_error()
        return await self._flush()

    async def close(self) -> int:
        """Flush and stop the timer. The store stays open (it belongs to the caller)."""
        self._cancel_timer()
        if self._timer_task is not None:
            with contextlib.suppress(Exception):
                await self._timer_task
        return await self.flush()

    async def __aenter__(self) -> BatchWriter:
        return self

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ internals

    async def _flush(self) -> int:
        self._cancel_timer()
        new = 0
        async with self._lock:
            while self._buffer:
                batch = self._buffer[: self.max_batch]
                del self._buffer[: len(batch)]
                try:
                    if self.offload:
                        count = await asyncio.to_thread(self.store.persist_beam_events, batch)
                    else:
                        count = self.store.persist_beam_events(batch)
                except BaseException as exc:
                    self._buffer[:0] = batch
                    self._fail_waiters(exc)
                    raise
                new += count
                self.stored += count
                self._written += len(batch)
                self._wake_waiters()
        return new

    def _arm_timer(self) -> None:
        if self._timer is None and self._timer_task is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.max_delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_task = asyncio.get_running_loop().create_task(self._timed_flush())

    async def _timed_flush(self) -> int:
        try:
            return await self._flush()
        except Exception as exc:
            self._error = exc
            return 0
        finally:
            self._timer_task = None
            if self._buffer and self._error is None:
                self._arm_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _wake_waiters(self) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self._waiters:
            if self._written >= target:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still

    def _fail_waiters(self, exc: BaseException) -> None:
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(exc)
        self._waiters = []
