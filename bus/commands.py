"""``beamline worker``, ``beamline tail`` and ``beamline dlq list|retry``.

Module-level imports stay light (typer only): aiokafka, SQLAlchemy and the stages
are imported inside the commands that need them, so ``beamline --help`` is fast.
``--bus`` and ``--store`` may be given here or before the command.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from beamline.config import CONFIG

BusOpt = Annotated[str | None, typer.Option("--bus", help="Bus driver (memory or kafka); default: the global --bus.")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URL; default: the global --store.")]

dlq_app = typer.Typer(help="Dead letters: list them, re-publish them.", no_args_is_help=True)


def _choose(bus: str | None, store: str | None) -> tuple[str, str]:
    return bus or CONFIG.bus, store or CONFIG.store_url


def _flags() -> tuple[dict[str, Any], str]:
    from beamline import flags
    from beamline.commands_core import current_flags

    values = current_flags()
    return values, flags.digest(values)


def _open_store(url: str) -> Any:
    from beamline.storeutil import open_configured_store

    return open_configured_store(url)


def worker(
    stage: Annotated[str, typer.Argument(help="Stage id: codex, photon, qwave, sqi or spe.")],
    instance_id: Annotated[str | None, typer.Option(
        "--instance-id", help="Static group membership id: a restarted worker takes its partitions back.")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Messages per batch.")] = 256,
    bus: BusOpt = None,
    store: StoreOpt = None,
) -> None:
    """Run one stage forever on the bus (Ctrl-C stops it cleanly). Workers of a stage share its partitions."""
    import asyncio
    import logging

    from bus.base import create_bus
    from bus.worker import run_worker
    from stages.registry import create_stage

    bus_name, store_url = _choose(bus, store)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bus_name == "memory":
        typer.echo("note: the memory bus lives in this process; this worker only sees events published here",
                   err=True)
    stage_obj = create_stage(stage)
    values, digest = _flags()
    event_store = _open_store(store_url)
    try:
        stats = asyncio.run(run_worker(
            stage_obj, bus=create_bus(bus_name), store=event_store, flags=values, flags_digest=digest,
            instance_id=instance_id, max_batch=max_batch,
            on_ready=lambda r: typer.echo(f"worker {stage} consuming {', '.join(r.topics)} in group {r.group}"),
        ))
    finally:
        event_store.close()
    typer.echo(f"worker {stage} stopped: {stats.processed} processed, {stats.outputs} outputs, "
               f"{stats.dead_letters} dead letters, {stats.skipped_disabled} skipped (stage disabled)")


def tail(
    topics: Annotated[list[str] | None, typer.Argument(help="Topics (e.g. photon collapse); default all.")] = None,
    eid: Annotated[str | None, typer.Option("--eid")] = None,
    cell: Annotated[str | None, typer.Option("--cell")] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="Beam stage or producing stage.")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Event type, e.g. SQIScore.")] = None,
    from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Start this long ago: 30s, 10m, 2h, 1d.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep following (implied without a start).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    bus: BusOpt = None,
    store: StoreOpt = None,
) -> None:
    """Follow events as they happen. Kafka: no consumer group (never steals work); embedded: the store."""
    import asyncio
    import signal

    from replay import tail as tailing

    bus_name, store_url = _choose(bus, store)
    flt = tailing.TailFilter(eid=eid, cell=cell, stage=stage, type=event_type,
                             topics=tailing.tail_topics(topics or []))
    window = tailing.parse_since(since) if since else None
    keep_following = follow or not (from_beginning or window is not None)
    emit = _emitter(as_json)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if bus_name == "memory":  # the embedded bus is inside another process: follow its store
            event_store = _open_store(store_url)
            try:
                return await tailing.tail_store(event_store, emit, flt=flt, from_beginning=from_beginning,
                                                since=window, follow=keep_following, stop=stop)
            finally:
                event_store.close()
        from bus.base import create_bus

        source = create_bus(bus_name, provision=())
        await source.start()
        try:
            return await tailing.tail_bus(source, emit, flt=flt, since=window, follow=keep_following, stop=stop,
                                          start="earliest" if from_beginning else "latest")
        finally:
            await source.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def _emitter(as_json: bool) -> Any:
    from replay import tail as tailing

    if as_json:
        return lambda item: typer.echo(tailing.to_json(item))
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    return lambda item: console.print(tailing.to_text(item))


@dlq_app.command("list")
def dlq_list(
    reason: Annotated[str | None, typer.Option("--reason", help="Only this reason, e.g. invalid_schema.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = None,
) -> None:
    """Every dead letter in the store, oldest first."""
    event_store = _open_store(store or CONFIG.store_url)
    try:
        letters = [e for e in event_store.dead_letters() if reason is None or e.payload["reason"] == reason]
    finally:
        event_store.close()
    if as_json:
        import orjson

        for letter in letters:
            typer.echo(orjson.dumps(letter.model_dump(mode="json")).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("event id", "time", "stage", "reason", "topic", "key", "error"):
        table.add_column(column)
    for letter in letters:
        p = letter.payload
        table.add_row(letter.event_id, letter.occurred_at.isoformat(timespec="seconds"), str(p.get("stage")),
                      p["reason"], p["topic"], str(p.get("key")), str(p["error"])[:80])
    Console().print(table)


@dlq_app.command("retry")
def dlq_retry(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Dead letter event ids (see dlq list).")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Every dead letter (or every one of --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    bus: BusOpt = None,
    store: StoreOpt = None,
) -> None:
    """Re-publish dead letters' original bytes to their topics (embedded: re-run them through the stages)."""
    import asyncio

    from bus.dead_letters import original_of

    bus_name, store_url = _choose(bus, store)
    if not event_ids and not retry_all and reason is None:
        raise typer.BadParameter("name dead letter ids, or use --all / --reason")
    event_store = _open_store(store_url)
    try:
        letters = [e for e in event_store.dead_letters()
                   if (not event_ids or e.event_id in event_ids) and (reason is None or e.payload["reason"] == reason)]
        missing = set(event_ids or []) - {e.event_id for e in letters}
        if missing:
            raise ValueError(f"no dead letter with id {sorted(missing)[0]}")
        records = [original_of(letter) for letter in letters]
        if bus_name == "memory":
            summary = asyncio.run(_rerun_embedded(records, event_store))
        else:
            from bus.publish import publish_records

            asyncio.run(publish_records(bus_name, records))
            summary = f"re-published {len(records)} dead letter(s) on {bus_name}"
    finally:
        event_store.close()
    typer.echo(summary)


async def _rerun_embedded(records: list[tuple[str, str | None, bytes]], event_store: Any) -> str:
    """The embedded bus has no one listening between commands: run every stage over the records here."""
    from bus.memory import MemoryBus
    from bus.pipeline import run_pipeline
    from stages.registry import STAGE_IDS, create_stage

    values, digest = _flags()
    result = await run_pipeline([create_stage(s) for s in STAGE_IDS], [], initial_raw=records, bus=MemoryBus(),
                                store=event_store, flags=values, flags_digest=digest)
    return (f"re-ran {len(records)} dead letter(s): {sum(result.outputs.values())} events produced, "
            f"{result.dead_letters} dead letter(s) again")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("tail")(tail)
    app.add_typer(dlq_app, name="dlq")
