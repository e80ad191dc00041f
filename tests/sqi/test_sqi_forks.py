"""PHASE9 fork selection: the best fork of a cell is approved, the others pruned with a reason."""

from __future__ import annotations

from typing import Any

from contracts.envelope import Envelope
from stages.sqi.forks import ForkOutcome, select
from stages.sqi.stage import SQIStage

from .helpers import ListReader, collapse, collapse_result, context, default_policy, submitted


def test_select_keeps_the_best_allowed_fork() -> None:
    verdicts = select([ForkOutcome(0, 0.7, True, ()), ForkOutcome(1, 0.9, True, ()), ForkOutcome(2, 0.65, True, ())],
                      0.6)
    assert [v.approved for v in verdicts] == [False, True, False]
    assert "fork 1 has the best qscore" in verdicts[0].reasons[0]


def test_select_ties_go_to_the_lowest_fork_and_threshold_prunes() -> None:
    verdicts = select([ForkOutcome(0, 0.8, True, ()), ForkOutcome(1, 0.8, True, ()), ForkOutcome(2, 0.5, True, ())],
                      0.6)
    assert [v.approved for v in verdicts] == [True, False, False]
    assert "below the fork threshold 0.6" in verdicts[2].reasons[0]


def test_select_never_keeps_a_denied_fork() -> None:
    verdicts = select([ForkOutcome(0, 0.99, False, ("low_qscore: no",)), ForkOutcome(1, 0.7, True, ())], 0.6)
    assert [v.approved for v in verdicts] == [False, True]
    assert verdicts[0].reasons == ("low_qscore: no",)
    assert not any(v.approved for v in select([ForkOutcome(0, 0.5, True, ())], 0.6))


def fork_beam(fork: int, rewrite: float, count: int = 3, cell: str = "a") -> Envelope:
    result = collapse_result(fork=fork, fork_count=count, rewrite_success_prob=rewrite)
    return collapse(result, cell=cell, index=fork)


async def deliver(forks: list[Envelope], reader: ListReader, **flags: Any) -> list[list[Envelope]]:
    """Handle forks in order the way the runner would: input and outputs land in the store."""
    stage = SQIStage(policy=default_policy())
    produced = []
    for beam in forks:
        reader.add(beam)
        outputs = await stage.handle(beam, context(reader, PHASE9_ENABLED=True, **flags))
        reader.add(*outputs)
        produced.append(outputs)
    return produced


def verdicts(outputs: list[Envelope]) -> list[Envelope]:
    return [env for env in outputs if env.type == "BeamEvent"]


async def test_forks_are_decided_when_the_last_one_arrives() -> None:
    # qscore = (rewrite + stability 1) / 2 -> 0.75, 0.95, 0.65
    forks = [fork_beam(0, 0.5), fork_beam(1, 0.9), fork_beam(2, 0.3)]
    first, second, last = await deliver(forks, ListReader([submitted()]))
    assert [env.type for env in first] == ["SQIScore", "SoulLawDecision"]
    assert [env.type for env in second] == ["SQIScore", "SoulLawDecision"]
    assert [env.type for env in last][:2] == ["SQIScore", "SoulLawDecision"]
    final = verdicts(last)
    assert len(final) == 3
    stages = {env.causation_id: env.payload["stage"] for env in final}
    assert stages == {forks[0].event_id: "vetoed", forks[1].event_id: "approved", forks[2].event_id: "vetoed"}
    pruned = next(env for env in final if env.causation_id == forks[0].event_id)
    assert "fork 1 has the best qscore" in pruned.payload["result"]["veto_reasons"][0]
    assert pruned.payload["result"]["fork_selection"] == {"kept": False, "forks": 3}
    kept = next(env for env in final if env.payload["stage"] == "approved")
    assert kept.payload["result"]["score"]["qscore"] == 0.95


async def test_arrival_order_and_redelivery_give_the_same_events() -> None:
    forks = [fork_beam(0, 0.5), fork_beam(1, 0.9), fork_beam(2, 0.3)]
    in_order = verdicts((await deliver(forks, ListReader([submitted()])))[-1])
    reversed_order = verdicts((await deliver(forks[::-1], ListReader([submitted()])))[-1])
    assert sorted(env.event_id for env in in_order) == sorted(env.event_id for env in reversed_order)
    # A redelivered early fork, once all forks are stored, re-emits exactly the same verdicts.
    reader = ListReader([submitted()])
    await deliver(forks, reader)
    again = await SQIStage(policy=default_policy()).handle(forks[0], context(reader, PHASE9_ENABLED=True))
    assert {env.event_id for env in verdicts(again)} == {env.event_id for env in in_order}


async def test_siblings_are_rescored_when_their_scores_are_not_stored() -> None:
    forks = [fork_beam(0, 0.5, count=2), fork_beam(1, 0.9, count=2)]
    reader = ListReader([submitted(), *forks])  # collapse beams stored, no SQI outputs yet
    outputs = await SQIStage(policy=default_policy()).handle(forks[0], context(reader, PHASE9_ENABLED=True))
    final = {env.causation_id: env.payload["stage"] for env in verdicts(outputs)}
    assert final == {forks[0].event_id: "vetoed", forks[1].event_id: "approved"}


async def test_forks_all_below_threshold_approve_nothing() -> None:
    forks = [fork_beam(0, 0.1, count=2), fork_beam(1, 0.15, count=2)]  # qscores 0.55, 0.575
    final = verdicts((await deliver(forks, ListReader([submitted()])))[-1])
    assert [env.payload["stage"] for env in final] == ["vetoed", "vetoed"]
    assert all("below the fork threshold" in env.payload["result"]["veto_reasons"][0] for env in final)
    # the threshold is a flag
    final = verdicts((await deliver(forks, ListReader([submitted()]), PHASE9_FORK_MIN_QSCORE=0.5))[-1])
    assert [env.payload["stage"] for env in final] == ["vetoed", "approved"]


async def test_forks_of_other_cells_do_not_count() -> None:
    forks = [fork_beam(0, 0.5, count=2), fork_beam(0, 0.9, count=2, cell="b")]
    outputs = await deliver(forks, ListReader([submitted()]))
    assert all(verdicts(o) == [] for o in outputs)  # neither cell has both its forks yet


async def test_fork_without_a_count_is_vetoed() -> None:
    beam = collapse(collapse_result(fork=0))
    outputs = await SQIStage(policy=default_policy()).handle(beam, context(ListReader([submitted(), beam])))
    (final,) = verdicts(outputs)
    assert final.payload["stage"] == "vetoed" and "fork_count" in final.payload["result"]["veto_reasons"][0]


async def test_forks_in_one_batch_are_decided_before_anything_is_persisted() -> None:
    # The runner persists a batch after handling all of it: siblings are not in the store yet.
    forks = [fork_beam(0, 0.5), fork_beam(1, 0.9), fork_beam(2, 0.3)]
    stage = SQIStage(policy=default_policy())
    reader = ListReader([submitted()])
    outputs = [await stage.handle(beam, context(reader, PHASE9_ENABLED=True)) for beam in forks]
    assert verdicts(outputs[0]) == [] and verdicts(outputs[1]) == []
    stages = {env.causation_id: env.payload["stage"] for env in verdicts(outputs[2])}
    assert stages == {forks[0].event_id: "vetoed", forks[1].event_id: "approved", forks[2].event_id: "vetoed"}
