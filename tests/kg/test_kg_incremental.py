"""The KG stage projects only what is new: merged batch by batch, its rows give the same KG as
projecting every batch together with all of its ancestors, and it reads no merged ancestor back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.envelope import Envelope
from stages.base import StageContext
from stages.kg.projection import project_kg
from stages.kg.stage import KGStage
from store.beam_store import BeamStore, open_store
from tests.kg.kg_events import history

ANNOTATIONS = {"qscore", "goal_match_score", "drift", "entropy_delta", "allowed", "policy_hash"}


class CountingReader:
    """The recorded history as a read side, counting the event ids it is asked for."""

    def __init__(self, events: Sequence[Envelope]) -> None:
        self.by_id = {env.event_id: env for env in events}
        self.order = [env.event_id for env in events]
        self.asked: list[str] = []

    def events(self, *, event_ids: Sequence[str] | None = None, **_: Any) -> list[Envelope]:
        assert event_ids is not None
        self.asked += event_ids
        return [self.by_id[i] for i in self.order if i in set(event_ids)]


def _context(reader: CountingReader) -> StageContext:
    return StageContext(flags={}, flags_digest="d", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), reader=reader)


def _ancestry(batch: Sequence[Envelope], by_id: dict[str, Envelope]) -> list[Envelope]:
    """Every recorded ancestor of ``batch`` (causation, mutation parents), oldest first, then ``batch``."""
    found: dict[str, Envelope] = {}
    frontier = list(batch)
    while frontier:
        names = set()
        for env in frontier:
            names.add(env.causation_id)
            if env.type == "DNAMutation":
                names.update(env.payload.get("parents", []))
        frontier = [by_id[n] for n in names if n in by_id and n not in found and by_id[n] not in batch]
        found.update((env.event_id, env) for env in frontier)
    return [*sorted(found.values(), key=lambda env: env.occurred_at), *batch]


def _kg(store: BeamStore) -> tuple[list[Any], list[Any]]:
    nodes = sorted((n["id"], n["kind"], n["attrs"], n["event_id"], n["occurred_at"]) for n in store.kg_nodes())
    edges = sorted((e["id"], e["attrs"], e["event_id"], e["occurred_at"]) for e in store.kg_edges())
    return nodes, edges


def _store(path: Path) -> BeamStore:
    return open_store(f"sqlite:///{path}", migrate=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batches_merged_incrementally_give_the_kg_of_batches_projected_with_their_ancestors(
    tmp_path: Path, seed: int
) -> None:
    events = history()
    shuffled = events[:]
    if seed:
        random.Random(seed).shuffle(shuffled)  # descendants may come before their ancestors
    batches = [shuffled[i:i + 3] for i in range(0, len(shuffled), 3)]
    reader = CountingReader(events)
    stage = KGStage()
    incremental, reference = _store(tmp_path / "incremental.db"), _store(tmp_path / "reference.db")
    for batch in batches:
        incremental.merge_kg(*stage.project(batch, _context(reader)))
        stage.merged()
        reference.merge_kg(*project_kg(_ancestry(batch, reader.by_id)))
    rebuilt = _store(tmp_path / "rebuilt.db")
    rebuilt.replace_kg(*project_kg(events))  # what `beamline kg rebuild` stores
    got, want, full = _kg(incremental), _kg(reference), _kg(rebuilt)
    assert got[1] == want[1]  # edges, provenance included
    assert [n[:2] + n[3:] for n in got[0]] == [n[:2] + n[3:] for n in want[0]]  # nodes and provenance
    rebuilt_attrs = {n[0]: n[2] for n in full[0]}
    for (node_id, _, attrs, _, _), (_, _, expected, _, _) in zip(got[0], want[0], strict=True):
        # The same attributes, except that SQI's annotation of a beam merged in an earlier batch
        # is kept even when the decision comes before that beam in a later batch (re-projected
        # with its ancestors, the annotation was lost then); its values are the rebuild's.
        extra = attrs.keys() - expected.keys()
        assert extra <= ANNOTATIONS and {k: attrs[k] for k in expected} == expected
        assert all(attrs[k] == rebuilt_attrs[node_id][k] for k in extra)
    if not seed:  # in store order the result is the rebuild's, provenance and attributes included
        assert got == full
    # SQI's score reached the collapse beam whichever batch it came in.
    beams = {n["id"]: n for n in incremental.kg_nodes("beam")}
    assert any(n["attrs"].get("qscore") == 0.9 for n in beams.values())


def test_a_merged_ancestor_is_not_read_back_and_a_failed_merge_is_projected_again(tmp_path: Path) -> None:
    events = history()
    reader = CountingReader(events)
    stage = KGStage()
    store = _store(tmp_path / "kg.db")
    first, second = events[:7], events[7:]
    store.merge_kg(*stage.project(first, _context(reader)))
    stage.merged()
    assert reader.asked == []  # the first batch holds its own ancestors
    rows = stage.project(second, _context(reader))
    # Every ancestor of the second batch is in the first: none is read, none projected again.
    assert reader.asked == []
    assert {n["event_id"] for n in rows[0]} <= {env.event_id for env in second}
    # The merge of those rows failed (merged() never came): the same batch is projected whole again.
    assert stage.project(second, _context(reader)) == rows
    store.merge_kg(*rows)
    stage.merged()
    assert stage.project(second, _context(reader)) == ([], [])  # merged: nothing new


def test_a_forgotten_ancestor_is_read_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stages.kg.stage as kg_stage

    monkeypatch.setattr(kg_stage, "ANCHORS_KEPT", 0)  # every merged event forgotten at once
    events = history()
    reader = CountingReader(events)
    stage = KGStage()
    store, reference = _store(tmp_path / "kg.db"), _store(tmp_path / "ref.db")
    for batch in (events[:7], events[7:]):
        store.merge_kg(*stage.project(batch, _context(reader)))
        stage.merged()
        reference.merge_kg(*project_kg(_ancestry(batch, reader.by_id)))
    assert reader.asked  # the second batch's ancestors were forgotten and read back
    assert _kg(store) == _kg(reference)


def test_the_stage_still_emits_no_events() -> None:
    assert asyncio.run(KGStage().handle(history()[0], _context(CountingReader([])))) == []
