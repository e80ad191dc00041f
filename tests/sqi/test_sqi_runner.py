"""SQI hosted by the real runner on the memory bus with a SQLite store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bus.memory import MemoryBus
from bus.runner import StageRunner
from bus.topics import key_for, topic_for
from contracts.envelope import Envelope
from contracts.registry import encode
from stages.sqi.stage import SQIStage
from store.beam_store import open_store

from .helpers import DEFAULT_FLAGS, collapse, collapse_result, submitted


async def run_sqi(beams: list[Envelope], **flags: Any) -> list[Envelope]:
    bus = MemoryBus()
    await bus.start()
    store = open_store("sqlite://", migrate=True)
    try:
        store.persist_beam_events([submitted()])
        runner = StageRunner(SQIStage(), bus=bus, store=store, flags={**DEFAULT_FLAGS, **flags},
                             follow_control=False)
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.ready.wait(), 10)
        for beam in beams:  # published back to back: they arrive in one batch
            await bus.publish(topic_for(beam), key_for(beam), encode(beam))
        for _ in range(200):
            if runner.stats.processed >= len(beams):
                break
            await asyncio.sleep(0.05)
        runner.stop()
        await asyncio.wait_for(task, 10)
        return store.events(types=["BeamEvent"], stage=["approved", "vetoed"])
    finally:
        store.close()
        await bus.stop()


def forks_and_a_plain_cell() -> list[Envelope]:
    forks = [collapse(collapse_result(fork=i, fork_count=3, rewrite_success_prob=r), index=i)
             for i, r in enumerate([0.5, 0.9, 0.3])]
    return [*forks, collapse(cell="z", index=7)]


@pytest.mark.timeout(60)
async def test_runner_persists_one_verdict_per_beam() -> None:
    verdicts = await run_sqi(forks_and_a_plain_cell(), PHASE9_ENABLED=True)
    outcome = sorted((env.cell_id, env.payload["result"]["fork"], env.payload["stage"]) for env in verdicts)
    assert outcome == [("a", 0, "vetoed"), ("a", 1, "approved"), ("a", 2, "vetoed"), ("z", None, "approved")]


@pytest.mark.timeout(60)
async def test_disabled_sqi_under_the_runner_approves_nothing() -> None:
    verdicts = await run_sqi(forks_and_a_plain_cell(), **{"stage.sqi": False})
    assert len(verdicts) == 4
    assert all(env.payload["stage"] == "vetoed" for env in verdicts)
    assert all(env.payload["result"]["veto_reasons"] == ["SQI stage disabled"] for env in verdicts)
