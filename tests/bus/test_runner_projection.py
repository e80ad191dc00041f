"""A projecting stage (the KG writer) hears ``merged()`` only after its rows were merged: a merge
that fails rewinds the batch, the stage is projected the same inputs again, and nothing is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from bus_fakes import RecordingStore, eventually, sheets

from beamline import flags as flag_catalogue
from bus.memory import MemoryBus
from bus.runner import StageRunner
from bus.topics import SHEETS
from contracts.envelope import Envelope
from contracts.registry import encode
from stages.base import StageContext


class Projecting:
    stage_id = "kg"
    input_topics = (SHEETS,)

    def __init__(self) -> None:
        self.projected: list[list[str]] = []
        self.merged_calls: list[list[str]] = []

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        return []

    def project(self, inputs: Sequence[Envelope], ctx: StageContext) -> tuple[list[Any], list[Any]]:
        self.projected.append([env.event_id for env in inputs])
        return [{"id": f"run:{env.sheet_run_id}"} for env in inputs], []

    def merged(self) -> None:
        self.merged_calls.append(self.projected[-1])


class FlakyKGStore(RecordingStore):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1
        self.kg: dict[str, Mapping[str, Any]] = {}

    def merge_kg(self, nodes: list[Mapping[str, Any]], edges: list[Mapping[str, Any]]) -> int:
        if self.failures:
            self.failures -= 1
            raise OSError("disk unavailable")
        self.kg.update((node["id"], node) for node in nodes)
        return len(nodes)


async def test_merged_is_called_only_after_a_merge_that_succeeded() -> None:
    bus, store, stage = MemoryBus(), FlakyKGStore(), Projecting()
    runner = StageRunner(stage, bus=bus, store=store, flags=flag_catalogue.defaults(), backoff_s=0.01)
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    events = sheets(5)
    await bus.publish_many([(SHEETS, e.sheet_run_id, encode(e)) for e in events])
    await eventually(lambda: len(store.kg) == 5)
    runner.stop()
    await task
    assert runner.stats.batch_failures == 1
    failed, *rest = stage.projected
    # The inputs whose merge failed were projected again.
    assert rest and set(failed) <= {i for ids in rest for i in ids}
    assert stage.merged_calls == rest  # ... and merged() came only for the merges that succeeded
    assert sorted(i for ids in stage.merged_calls for i in ids) == sorted(e.event_id for e in events)
