"""The stage runner: hosts one stage object on any bus.

For each batch of input messages the runner decodes each message (upcasting old
versions), calls ``stage.handle(envelope, ctx)`` — or, for a stage that declares
``handle_batch(envelopes, ctx)``, calls that once with every decoded input of the
batch (see "Batches" below) — then — in this order —
persists the inputs and outputs (``store.persist_beam_events``, one call per
batch), publishes every output to ``topic_for(output)`` keyed by ``key_for(output)``,
and only then acknowledges the inputs. A crash anywhere before the ack
means redelivery; event ids are deterministic and the store ignores duplicates,
so every input's effects end up in the store exactly once.

Persisting before publishing means every event a runner publishes is in the store
before any consumer can see it: a stage reading the store (SPE, the KG) never
misses an event it was sent, and an input persisted again by its consumer is a
duplicate the store drops before building its row (``BeamStore.persist_beam_events``).
Inputs are still persisted by their consumer, for what reached the bus without
passing through a runner (a message published by hand, ``dlq retry``).

Failures never stop the consumer:

* a message that cannot be decoded goes to ``beamline.dlq`` as a DeadLetter with
  the decoder's reason (malformed, invalid_schema, unknown_type, future_version,
  too_large);
* a handler that raises is retried with exponential back-off (``max_attempts``
  in all), then the input is dead-lettered as ``handler_failed``;
* a failure to publish or persist acknowledges nothing: the batch is rewound
  (``nack``) and retried after a back-off;
* with ``QKD_ON`` an input without a valid tag is dead-lettered as
  ``auth`` and every output is signed (``bus.codec``).

Flags: the runner holds the flags in force and applies ``FlagChanged`` events
read from ``beamline.control`` while it runs. A stage whose toggle
``stage.<id>`` is false is not called — its inputs are acknowledged, nothing is
forwarded or recorded, ``stats.skipped_disabled`` counts them and the first skip
after each toggle is logged — unless the stage declares ``handles_disabled = True``
(SQI fails closed itself).

Batch-capable stages (``handle_batch``, ``batch_wait_s``) and deferring stages
(``BeamEvent(stage="deferred")``, ``watches_backlog``, ``ctx.deferrals``): see ``bus.batches``.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bus.base import Bus, BusClosed, Consumer, Message, Reader, Record
from bus.batches import BatchHandler, Outcome, call_batch, read_backlog, retry_after, widen
from bus.codec import DecodedMessages, EventCodec, authenticator_for
from bus.dead_letters import dead_letter_event
from bus.flag_state import DigestFn, FlagState, default_digest
from bus.topics import CONTROL, DLQ, key_for, topic_for
from contracts.envelope import Envelope, utc_now
from contracts.registry import MAX_MESSAGE_BYTES, ContractError, encode
from stages.base import NoReadSide, ReadSide, Stage, StageContext

log = logging.getLogger(__name__)

#: Outputs a runner handles before it delivers and acknowledges what it has (memory bound).
MAX_PENDING_OUTPUTS = 2048


@dataclass
class RunnerStats:
    """What a runner did, counted when a batch is acknowledged (a rewound batch is not counted).

    ``processed``: inputs acknowledged (dead letters and skipped ones included);
    ``outputs``: events the stage produced; ``skipped_disabled``: inputs of a disabled
    stage; ``retries``: handler re-attempts; ``batch_failures``: batches rewound because
    publishing or persisting failed; ``persisted``: envelopes handed to the store;
    ``batch_calls``: ``handle_batch`` calls that succeeded; ``deferrals``: inputs the
    stage deferred (each retry counted).
    """

    processed: int = 0
    outputs: int = 0
    dead_letters: int = 0
    skipped_disabled: int = 0
    retries: int = 0
    batch_failures: int = 0
    persisted: int = 0
    batch_calls: int = 0
    deferrals: int = 0


def group_for(stage_id: str) -> str:
    """The consumer group of a stage: every worker of that stage shares it."""
    return f"beamline.{stage_id}"


async def persist_events(store: Any, events: Sequence[Envelope]) -> None:
    """``store.persist_beam_events(events)``, awaited when the store is asynchronous."""
    if not events:
        return
    result = store.persist_beam_events(list(events))
    if inspect.isawaitable(result):
        await result


class StageRunner:
    """Runs ``stage`` in group ``beamline.<stage_id>`` until ``stop()`` or cancellation.

    ``instance_id`` names this process in produced events and in the StageContext;
    ``member_id`` (optional) is the static group membership id (Kafka
    ``group_instance_id``), so a restarted worker takes its partitions back.
    """

    def __init__(
        self,
        stage: Stage,
        *,
        bus: Bus,
        store: Any,
        flags: Mapping[str, Any],
        flags_digest: str | None = None,
        instance_id: str = "0",
        member_id: str | None = None,
        max_batch: int = 256,
        poll_timeout_s: float = 0.2,
        max_attempts: int = 3,
        backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        follow_control: bool = True,
        clock: Callable[[], datetime] = utc_now,
        digest_fn: DigestFn = default_digest,
    ) -> None:
        self.stage = stage
        self.stage_id = stage.stage_id
        self.group = group_for(stage.stage_id)
        self.topics = tuple(stage.input_topics)
        self.bus = bus
        self.store = store
        self.flags = FlagState(flags, flags_digest or digest_fn(flags), digest_fn)
        self.instance_id = instance_id
        self.member_id = member_id
        self.max_batch = max_batch
        self.poll_timeout_s = poll_timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.follow_control = follow_control
        self.clock = clock
        self.handles_disabled = bool(getattr(stage, "handles_disabled", False))
        self.reader: ReadSide = store if callable(getattr(store, "events", None)) else NoReadSide()
        handler = getattr(stage, "handle_batch", None)
        self.batch_handler: BatchHandler | None = handler if callable(handler) else None
        self.batch_wait_s = float(getattr(stage, "batch_wait_s", 0.0) or 0.0)
        self.watches: dict[str, tuple[str, ...]] = {
            k: tuple(v) for k, v in dict(getattr(stage, "watches_backlog", None) or {}).items()
        }
        self._lag_unavailable: set[str] = set()
        self.stats = RunnerStats()
        self.ready = asyncio.Event()
        self.consumer: Consumer | None = None
        self._stopping = asyncio.Event()
        #: Set whenever a batch is acknowledged: what a caller waiting for quiescence wakes on
        #: (``bus.pipeline``) instead of polling blind. Callers may replace it with a shared one.
        self.progressed = asyncio.Event()
        self._context: StageContext | None = None
        self._context_version = -1
        # A bus that hands every group the same bytes lends a shared cache of decoded envelopes.
        self._decoded: DecodedMessages | None = getattr(bus, "decoded", None)
        self._codec = EventCodec(decoded=self._decoded)
        self._codec_qkd: bool | None = None
        self._logged_disabled = -1

    def stop(self) -> None:
        """Ask the runner to finish its current batch and leave its group."""
        self._stopping.set()

    async def run(self) -> None:
        consumer = self.bus.consume(self.group, self.topics, instance_id=self.member_id)
        self.consumer = consumer
        control: Reader | None = None
        control_task: asyncio.Task[None] | None = None
        try:
            await consumer.start()
            if self.follow_control:
                control = self.bus.read([CONTROL], start="latest")
                await control.start()
                control_task = asyncio.create_task(self._follow_control(control), name=f"flags:{self.stage_id}")
            self.ready.set()
            await self._consume(consumer)
        finally:
            if control_task is not None:
                control_task.cancel()
                await asyncio.gather(control_task, return_exceptions=True)
            if control is not None:
                await control.close()
            await consumer.close()

    async def _consume(self, consumer: Consumer) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                batch = await self._poll(consumer)
                if batch and self.batch_wait_s > 0:
                    batch += await widen(consumer, len(batch), self.max_batch, self.batch_wait_s)
            except BusClosed:
                return
            if not batch:
                continue
            self._refresh_codec()  # outside the try: QKD on without a secret stops the runner
            try:
                await self._handle_batch(consumer, batch)
                failures = 0
            except BusClosed:
                return
            except Exception as exc:  # noqa: BLE001 - infrastructure failure: rewind, back off, go on
                failures += 1
                self.stats.batch_failures += 1
                log.warning("%s: batch of %d not acknowledged (%s: %s); retrying",
                            self.stage_id, len(batch), type(exc).__name__, exc)
                await self._rewind(consumer, batch)
                await asyncio.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1)))

    async def _poll(self, consumer: Consumer) -> list[Message]:
        """The next batch; empty at once when ``stop()`` is called meanwhile, so a stopping runner
        leaves its group without waiting out the poll timeout (nothing polled is acknowledged,
        so a poll cut short loses nothing: the group delivers it again)."""
        poll = asyncio.ensure_future(consumer.getmany(self.max_batch, self.poll_timeout_s))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((poll, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not poll.done():
                poll.cancel()
                await asyncio.gather(poll, return_exceptions=True)
        return poll.result() if not poll.cancelled() else []

    async def _rewind(self, consumer: Consumer, batch: list[Message]) -> None:
        first: dict[tuple[str, int], Message] = {}
        for message in batch:
            first.setdefault((message.topic, message.partition), message)
        for message in first.values():
            await consumer.nack(message)

    async def _handle_batch(self, consumer: Consumer, batch: list[Message]) -> None:
        # Delivered and acknowledged a part at a time: a part ends once its outputs reach
        # MAX_PENDING_OUTPUTS, so inputs that fan out (a sheet: events for every cell) never
        # hold a whole batch's outputs in memory at once.
        while batch:
            ctx = await self.batch_context()
            outcomes = await self._outcomes(batch, ctx)
            await self._deliver_part(consumer, batch[: len(outcomes)], outcomes, ctx)
            # In place: should a later part fail, ``_consume`` rewinds only what is not acknowledged.
            del batch[: len(outcomes)]

    async def _deliver_part(self, consumer: Consumer, done: list[Message], outcomes: list[Outcome],
                            ctx: StageContext) -> None:
        await self._deliver(outcomes)
        retried, deferrals = await self._retry_deferred(outcomes)
        self._project(outcomes, ctx)
        await consumer.ack_many(done)
        self.progressed.set()
        stats = self.stats
        stats.processed += len(done)
        stats.deferrals += deferrals
        for outcome in outcomes + retried:
            stats.persisted += len(outcome.persist)
            stats.outputs += outcome.outputs
            stats.dead_letters += outcome.dead_letter
            stats.skipped_disabled += outcome.skipped

    def _project(self, outcomes: Sequence[Outcome], ctx: StageContext) -> None:
        """A projecting stage (``project(inputs, ctx) -> (nodes, edges)``, the KG writer) gets its
        rows merged into the store's KG tables before the batch is acknowledged, and then, when it
        declares ``merged()``, is told so (it remembers what is merged only once it is)."""
        project = getattr(self.stage, "project", None)
        merge = getattr(self.store, "merge_kg", None)
        if project is None or merge is None:
            return
        inputs = [o.envelope for o in outcomes if o.envelope is not None and not o.skipped and not o.dead_letter]
        if inputs:
            nodes, edges = project(inputs, ctx)
            merge(nodes, edges)
            merged = getattr(self.stage, "merged", None)
            if callable(merged):
                merged()

    async def _deliver(self, outcomes: Sequence[Outcome]) -> None:
        await persist_events(self.store, [event for outcome in outcomes for event in outcome.persist])
        await self.bus.publish_many([record for outcome in outcomes for record in outcome.records])

    async def _outcomes(self, batch: list[Message], ctx: StageContext) -> list[Outcome]:
        """One outcome per message of a prefix of ``batch``: the whole batch through the batch
        handler (when declared), else one by one until MAX_PENDING_OUTPUTS outputs are pending."""
        if self.batch_handler is None:
            outcomes: list[Outcome] = []
            pending = 0
            for message in batch:
                admitted = self._admit(message)
                outcome = admitted if isinstance(admitted, Outcome) else await self._handle_one(message, admitted, ctx)
                outcomes.append(outcome)
                pending += len(outcome.persist)
                if pending >= MAX_PENDING_OUTPUTS:
                    break
                # Stages compute without awaiting: give the loop a turn between inputs, or a Kafka
                # member's heartbeats starve during a long batch and the broker evicts it.
                await asyncio.sleep(0)
            return outcomes
        early: dict[int, Outcome] = {}
        ready: list[tuple[int, Message, Envelope]] = []
        for i, message in enumerate(batch):
            admitted = self._admit(message)
            if isinstance(admitted, Outcome):
                early[i] = admitted
            else:
                ready.append((i, message, admitted))
        produced = None
        if ready and self.batch_handler is not None:
            produced = await call_batch(self.batch_handler, [e for _, _, e in ready], ctx, self.stage_id)
            self.stats.batch_calls += produced is not None
        for position, (i, message, envelope) in enumerate(ready):
            sealed = self._sealed(message, envelope, produced[position]) if produced is not None else None
            early[i] = sealed or await self._handle_one(message, envelope, ctx)
        return [early[i] for i in range(len(batch))]

    def _sealed(self, message: Message, envelope: Envelope, produced: Sequence[Any]) -> Outcome | None:
        """The outcome of outputs a batch call produced for one input; None if they cannot be sent."""
        try:
            return self._outcome_of(message, envelope, produced, persist_input=True)
        except Exception as exc:  # noqa: BLE001 - this input alone is retried one by one
            log.warning("%s: batch outputs of %s unusable (%s: %s); handling it alone",
                        self.stage_id, envelope.event_id, type(exc).__name__, exc)
            return None

    def _outcome_of(self, message: Message, envelope: Envelope, produced: Sequence[Any], *,
                    persist_input: bool, deferrals: int = 0) -> Outcome:
        outputs = [self._codec.seal(_checked(output)) for output in produced]
        records = [_record_of(output) for output in outputs]
        return Outcome(persist=[envelope, *outputs] if persist_input else outputs, records=records,
                        outputs=len(outputs), retry_after_s=retry_after(outputs), message=message,
                        envelope=envelope, deferrals=deferrals)

    async def _retry_deferred(self, outcomes: list[Outcome]) -> tuple[list[Outcome], int]:
        """Handle deferred inputs again after their back-off until none is deferred (module docstring)."""
        retried: list[Outcome] = []
        deferrals = 0
        waiting = [o for o in outcomes if o.retry_after_s is not None]
        while waiting:
            deferrals += len(waiting)
            await asyncio.sleep(max(o.retry_after_s or 0.0 for o in waiting))
            ctx = await self.batch_context()
            fresh = []
            for outcome in waiting:
                assert outcome.message is not None and outcome.envelope is not None
                count = outcome.deferrals + 1
                fresh.append(await self._handle_one(outcome.message, outcome.envelope,
                                                    replace(ctx, deferrals=count), persist_input=False))
            await self._deliver(fresh)
            retried += fresh
            waiting = [o for o in fresh if o.retry_after_s is not None]
        return retried, deferrals

    async def batch_context(self) -> StageContext:
        """``context()`` plus the backlog of the stages this stage watches, read now."""
        ctx = self.context()
        if not self.watches:
            return ctx
        backlog = await read_backlog(self.bus, self.watches, unavailable=self._lag_unavailable,
                                     reader=self.stage_id)
        return replace(ctx, backlog=backlog)

    def _refresh_codec(self) -> None:
        qkd_on = bool(self.flags.values.get("QKD_ON"))
        if qkd_on != self._codec_qkd:
            self._codec = EventCodec(authenticator_for(self.flags.values), decoded=self._decoded)
            self._codec_qkd = qkd_on

    def context(self) -> StageContext:
        """The StageContext for the next message: flags in force, clock, read side, instance.

        Rebuilt only when a FlagChanged was applied (the context holds nothing else that changes).
        """
        if self._context is None or self._context_version != self.flags.changes:
            self._context = StageContext(
                flags=self.flags.values,
                flags_digest=self.flags.digest,
                clock=self.clock,
                reader=self.reader,
                instance=self.instance_id,
            )
            self._context_version = self.flags.changes
        return self._context

    def _admit(self, message: Message) -> Envelope | Outcome:
        """The decoded input, or its final outcome (dead letter, skipped while disabled)."""
        try:
            envelope = self._codec.decode(message.value)
        except ContractError as exc:
            return self._dead_letter(message, exc.reason, str(exc), None)
        if not self.handles_disabled and not self.flags.enabled(self.stage_id):
            if self._logged_disabled != self.flags.changes:
                self._logged_disabled = self.flags.changes
                log.info("%s: stage disabled (flag stage.%s = false): inputs acknowledged, not processed",
                         self.stage_id, self.stage_id)
            return Outcome(persist=[], records=[], skipped=True)
        return envelope

    async def _handle_one(self, message: Message, envelope: Envelope, ctx: StageContext, *,
                          persist_input: bool = True) -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            try:
                stream = getattr(self.stage, "stream", None)
                if callable(stream):
                    return await self._streamed(message, envelope, stream(envelope, ctx), persist_input=persist_input,
                                                deferrals=ctx.deferrals)
                produced = await self.stage.handle(envelope, ctx)
                return self._outcome_of(message, envelope, produced, persist_input=persist_input,
                                        deferrals=ctx.deferrals)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a handler failure must not stop the consumer
                if attempt >= self.max_attempts:
                    error = f"{type(exc).__name__}: {exc} (after {attempt} attempts)"
                    outcome = self._dead_letter(message, "handler_failed", error, envelope)
                    if persist_input:
                        outcome.persist.insert(0, envelope)
                    return outcome
                self.stats.retries += 1
                await asyncio.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))

    async def _streamed(self, message: Message, envelope: Envelope, outputs: Iterator[Envelope], *,
                        persist_input: bool, deferrals: int) -> Outcome:
        """The outcome of a stage that streams its outputs (``stream(envelope, ctx)``: Codex, a sheet's
        events cell by cell). Each full part of MAX_PENDING_OUTPUTS is delivered here and the rest returned
        as the input's outcome, acknowledged with its batch: a 10,000-cell sheet's events are never held
        at once. A failure midway redelivers the input; its outputs keep their ids (the store ignores
        those it has)."""
        first = True
        while True:
            part = list(itertools.islice(outputs, MAX_PENDING_OUTPUTS))
            outcome = self._outcome_of(message, envelope, part, persist_input=persist_input and first,
                                       deferrals=deferrals)
            if len(part) < MAX_PENDING_OUTPUTS:
                return outcome
            await self._deliver([outcome])
            self.stats.persisted += len(outcome.persist)
            self.stats.outputs += outcome.outputs
            first = False

    def _dead_letter(self, message: Message, reason: str, error: str, original: Envelope | None) -> Outcome:
        letter = dead_letter_event(
            message,
            reason=reason,
            error=error,
            stage_id=self.stage_id,
            instance=self.instance_id,
            occurred_at=self.clock(),
            flags_digest=self.flags.digest,
            original=original,
        )
        letter = self._codec.seal(letter)
        log.warning("%s: dead letter (%s) from %s[%d]@%d: %s",
                    self.stage_id, reason, message.topic, message.partition, message.offset, error[:200])
        return Outcome(persist=[letter], records=[(DLQ, message.key, encode(letter))], dead_letter=True)

    async def _follow_control(self, control: Reader) -> None:
        while True:
            try:
                messages = await control.getmany(100, 1.0)
            except BusClosed:
                return
            for message in messages:
                try:
                    envelope = self._codec.decode(message.value)
                except ContractError as exc:
                    log.warning("%s: control message ignored (%s): %s", self.stage_id, exc.reason, exc)
                    continue
                self.flags.apply(envelope)


def _checked(output: Any) -> Envelope:
    if not isinstance(output, Envelope):
        raise TypeError(f"handler returned {type(output).__name__}, not an Envelope")
    return output


def _record_of(output: Envelope) -> Record:
    value = encode(output)
    if len(value) > MAX_MESSAGE_BYTES:
        raise ValueError(f"output {output.event_id} ({output.type}) is {len(value)} bytes, over the message limit")
    return topic_for(output), key_for(output), value
