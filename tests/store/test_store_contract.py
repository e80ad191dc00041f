"""The beam store contract: one suite, run on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, text

from contracts.envelope import Envelope
from contracts.payloads import BeamEvent, DeadLetter
from contracts.registry import make_event, payload_of
from stages.base import ReadSide
from store.beam_store import BeamStore, open_store
from store.errors import StoreAhead, StoreBehind
from store.models import EVENTS, Base
from store.rows import to_row
from store.sample_runs import RunBuilder, eid_for, sample_run


def ids(events: list[Envelope]) -> list[str]:
    return [event.event_id for event in events]


# ---------------------------------------------------------------- schema and start-up


def test_unmigrated_store_is_refused_with_a_one_line_migrate_instruction(store_url: str) -> None:
    with pytest.raises(StoreBehind) as refused:
        open_store(store_url)
    message = str(refused.value)
    assert "\n" not in message
    assert "run `beamline store migrate --store " in message
    assert "revision none" in message
    if store_url.startswith("sqlite:///"):  # refusing did not leave an empty file behind
        assert not Path(store_url.removeprefix("sqlite:///")).exists()

    migrated = open_store(store_url, migrate=True)
    migrated.close()
    reopened = open_store(store_url)  # at head now: no error, no migration needed
    try:
        assert reopened.revision == migrated.revision
        assert reopened.max_seq() == 0
    finally:
        reopened.close()


def test_a_store_from_a_newer_beamline_is_refused(store: BeamStore, store_url: str) -> None:
    with store.connect() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        connection.commit()
    with pytest.raises(StoreAhead, match="upgrade Beamline"):
        open_store(store_url)


def test_migrated_schema_matches_the_models(store: BeamStore) -> None:
    with store.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_ensure_tables_is_idempotent(store: BeamStore) -> None:
    revision = store.revision
    assert store.ensure_tables() == revision


# ---------------------------------------------------------------- writes


def test_persisting_the_same_batch_twice_stores_it_once(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=1)
    assert store.persist_beam_events(run) == len(run)
    top = store.max_seq()
    assert store.persist_beam_events(run) == 0
    assert store.max_seq() == top
    assert ids(store.events()) == ids(run)


def test_a_batch_mixing_stored_repeated_and_new_events_counts_only_new_ones(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=0)
    store.persist(run[:5])
    mixed = run[3:8] + run[6:8]  # 3..4 stored, 5..7 new, 6..7 twice in the batch
    assert store.persist(mixed) == 3
    assert ids(store.events()) == ids(run[:8])


def test_concurrent_writers_lose_nothing_and_seq_follows_each_writers_order(store_url: str) -> None:
    runs = [sample_run(f"run-{i}", cells=2, generations=1) for i in range(4)]
    stores = [open_store(store_url, migrate=True) for _ in runs]
    try:
        def write(pair: tuple[BeamStore, list[Envelope]]) -> int:
            writer, run = pair
            return sum(writer.persist(run[i:i + 5]) for i in range(0, len(run), 5))

        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            counts = list(pool.map(write, zip(stores, runs, strict=True)))
        assert counts == [len(run) for run in runs]
        stored = stores[0].events_with_seq()
        assert len(stored) == sum(counts)
        for run in runs:
            assert [e.event_id for _, e in stored if e.sheet_run_id == run[0].sheet_run_id] == ids(run)
    finally:
        for opened in stores:
            opened.close()


def test_entanglement_links_fill_the_entanglement_map(store: BeamStore) -> None:
    store.persist(sample_run("run-1", cells=4, generations=0))
    store.persist(sample_run("run-2", cells=2, generations=0))
    expected_run1 = {eid_for("run-1", ["c0", "c1"]): ["c0", "c1"], eid_for("run-1", ["c2", "c3"]): ["c2", "c3"]}
    assert store.entanglement_map("run-1") == expected_run1
    assert store.entanglement_map() == {**expected_run1, eid_for("run-2", ["c0", "c1"]): ["c0", "c1"]}


# ---------------------------------------------------------------- reads


def test_events_filters_compose_and_keep_seq_order(store: BeamStore) -> None:
    reader: ReadSide = store  # what stages see as ctx.reader (checked by mypy)
    run1 = sample_run("run-1", cells=2, generations=1)
    run2 = sample_run("run-2", cells=2, generations=1, start=run1[-1].occurred_at + timedelta(seconds=1))
    store.persist(run1)
    store.persist(run2)
    everything = run1 + run2
    eid = eid_for("run-2", ["c0", "c1"])

    assert ids(reader.events(sheet_run_id="run-2")) == ids(run2)
    assert ids(store.events(eid=eid, cell_id="c1")) == ids([e for e in run2 if e.cell_id == "c1"])
    beams = [e for e in everything if e.type == "BeamEvent"]
    assert ids(store.events(types="BeamEvent")) == ids(beams)  # a bare string is one type
    assert ids(store.events(types=["BeamEvent"], stage="approved")) == ids(
        [e for e in beams if e.payload["stage"] == "approved"]
    )
    assert ids(store.events(stage="sqi", types=["SQIScore"])) == ids([e for e in everything if e.type == "SQIScore"])
    picked = [run2[4].event_id, run1[2].event_id]
    assert ids(store.events(event_ids=picked)) == [run1[2].event_id, run2[4].event_id]
    assert ids(store.events(since=run2[0].occurred_at)) == ids(run2)
    assert store.events(container_id="elsewhere") == []
    # Several EIDs in one read (SPE's batches), in seq order across them.
    eid1 = eid_for("run-1", ["c0", "c1"])
    assert ids(reader.events(eids=[eid, eid1], types=["BeamEvent"])) == ids(
        [e for e in beams if e.eid in (eid, eid1)])
    assert ids(store.events(eids=[eid])) == ids(store.events(eid=eid)) != []
    assert store.events(eids=[]) == []


def test_events_with_seq_pages_through_the_log_like_tail(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=1)
    store.persist(run)
    seen: list[str] = []
    cursor = 0
    while page := store.events_with_seq(cursor, 7):
        seqs = [seq for seq, _ in page]
        assert seqs == sorted(seqs) and seqs[0] > cursor
        seen.extend(envelope.event_id for _, envelope in page)
        cursor = seqs[-1]
    assert seen == ids(run)
    assert cursor == store.max_seq()
    assert store.events_with_seq(cursor) == []


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_iter_events_walks_the_same_events_a_page_at_a_time(store: BeamStore, batch_size: int) -> None:
    run1 = sample_run("run-1", cells=2, generations=1)
    store.persist(run1 + sample_run("run-2", cells=2, generations=1))
    assert ids(store.iter_events(batch_size=batch_size, sheet_run_id="run-1")) == ids(run1)
    assert ids(store.iter_events(batch_size=batch_size, types=["BeamEvent"], stage="approved")) == ids(
        store.events(types=["BeamEvent"], stage="approved")) != []
    assert list(store.iter_events(batch_size=batch_size, container_id="elsewhere")) == []


def test_get_event_and_dead_letters(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=0)
    letter = make_event(
        DeadLetter(original_b64="e30=", topic="beamline.codex", error="boom", reason="malformed"),
        stage_id="dlq", index=0, sheet_run_id="run-1", occurred_at=run[0].occurred_at,
    )
    store.persist([*run, letter])
    assert store.get_event(run[3].event_id) == run[3]
    assert store.get_event("no-such-event") is None
    assert store.dead_letters() == [letter]


# ---------------------------------------------------------------- lineage


def test_lineage_follows_causation_back_through_spe_generations(store: BeamStore) -> None:
    run = sample_run("run-1", cells=4, generations=2)
    store.persist(sample_run("run-0", cells=4, generations=2))  # same cell names, older run
    store.persist(run)

    lineage = store.get_lineage_for_cell("c0.g2")

    # c0.g2's ingest was caused by a DNAMutation of c0.g1 naming c0.g1 as parent, whose
    # ingest was caused by a DNAMutation of c0 — back to the run's SheetSubmitted.
    family = {"c0", "c0.g1", "c0.g2"}
    expected = [e for e in run if e.cell_id in family or e.type == "SheetSubmitted"]
    assert ids(lineage) == ids(expected)
    assert lineage[0].type == "SheetSubmitted"
    assert {e.sheet_run_id for e in lineage} == {"run-1"}
    assert store.get_lineage_for_cell("c0.g2", sheet_run_id="run-0")[0].sheet_run_id == "run-0"
    assert store.get_lineage_for_cell("never-seen") == []


def test_lineage_without_named_parents_is_the_strict_causation_chain(store: BeamStore) -> None:
    builder = RunBuilder("run-1")
    root = builder.submit()
    eid = builder.entangle(["b"], root, index=0)
    ingest = builder.ingest("b", eid, root, index=1)
    approved = builder.through_pipeline(ingest)
    mutation = builder.mutate(approved, [], "b.g1")
    child = builder.ingest("b.g1", eid, mutation, index=0, generation=1)
    builder.through_pipeline(child, generation=1)
    store.persist(builder.events)

    by_id = {e.event_id: e for e in builder.events}
    chain = []
    cursor: Envelope | None = mutation
    while cursor is not None:  # mutation <- approved <- collapse <- rewrite <- ingest <- submitted
        chain.append(cursor)
        cursor = by_id.get(cursor.causation_id or "")
    expected = sorted(chain + [e for e in builder.events if e.cell_id == "b.g1"], key=builder.events.index)
    lineage = store.get_lineage_for_cell("b.g1")
    assert ids(lineage) == ids(expected)
    assert not any(e.type in {"SQIScore", "GlyphExecution"} and e.cell_id == "b" for e in lineage)


def test_lineage_of_a_fusion_includes_every_named_parent_up_to_the_mutation(store: BeamStore) -> None:
    builder = RunBuilder("run-1")
    root = builder.submit()
    eid = builder.entangle(["a", "b", "c"], root, index=0)
    approved = {}
    for index, cell in enumerate("abc"):
        approved[cell] = builder.through_pipeline(builder.ingest(cell, eid, root, index=10 + 2 * index))
    # parents may name cells ("b") or events (c's approved beam).
    mutation = builder.mutate(approved["a"], ["a", "b", approved["c"].event_id], "abc.g1")
    late_b = builder.beam("deferred", "b", eid, approved["b"], stage_id="photon", index=9)
    builder.through_pipeline(builder.ingest("abc.g1", eid, mutation, index=0, generation=1), generation=1)
    store.persist(builder.events)

    lineage = ids(store.get_lineage_for_cell("abc.g1"))
    before = builder.events[: builder.events.index(mutation) + 1]
    for event in before:
        if event.cell_id in {"a", "b"} or event.type == "SheetSubmitted":
            assert event.event_id in lineage
    c_events = [e for e in builder.events if e.cell_id == "c"]
    c_chain = {approved["c"].event_id, approved["c"].causation_id}
    assert {e.event_id for e in c_events if e.event_id in lineage} >= c_chain
    assert not any(e.type == "SQIScore" and e.event_id in lineage for e in c_events)
    assert late_b.event_id not in lineage
    assert lineage == [e.event_id for e in builder.events if e.event_id in set(lineage)]  # seq order


# ---------------------------------------------------------------- ghost replay


def _expected_ghost(run: list[Envelope], eid: str, last: int) -> list[str]:
    groups: dict[str | None, list[Envelope]] = defaultdict(list)
    for event in run:
        if event.eid == eid:
            groups[event.cell_id].append(event)
    chosen = {e.event_id for group in groups.values() for e in group[-last:]} if last else set()
    return [e.event_id for e in run if e.event_id in chosen]


@pytest.mark.parametrize("last", [0, 1, 3, 100])
def test_ghost_replay_returns_the_last_n_events_of_every_cell_in_seq_order(store: BeamStore, last: int) -> None:
    store.persist(sample_run("run-0", cells=4, generations=1))
    run = sample_run("run-1", cells=4, generations=1)
    store.persist(run)
    eid = eid_for("run-1", ["c2", "c3"])

    ghost = store.ghost_replay_for_eid(eid, last=last)

    assert ghost.eid == eid
    assert ghost.members == ["c2", "c3"]
    assert ids(ghost.events) == _expected_ghost(run, eid, last)
    if last >= 3:  # every cell of the EID (generation cells included) appears
        assert {e.cell_id for e in ghost.events} == {"c2", "c3", "c2.g1", "c3.g1", None}


def test_ghost_replay_without_last_is_the_whole_eid(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=1)
    store.persist(run)
    eid = eid_for("run-1", ["c0", "c1"])
    assert ids(store.ghost_replay_for_eid(eid).events) == [e.event_id for e in run if e.eid == eid]
    unknown = store.ghost_replay_for_eid("eid::nope::0")
    assert (unknown.members, unknown.events) == ([], [])


def test_ghost_replay_without_a_recorded_link_reports_the_cells_seen(store: BeamStore) -> None:
    run = [e for e in sample_run("run-1", cells=2, generations=1) if e.type != "EntanglementLink"]
    store.persist(run)
    ghost = store.ghost_replay_for_eid(eid_for("run-1", ["c0", "c1"]), last=2)
    assert ghost.members == ["c0", "c0.g1", "c1", "c1.g1"]
    assert len(ghost.events) == 8


# ---------------------------------------------------------------- upcasting on read


def _store_as_v1(store: BeamStore, beam: Envelope) -> None:
    """Write ``beam`` the way a Beamline from before BeamEvent v2 did: v1, no ``generation``."""
    row = to_row(beam)
    v1_payload = {k: v for k, v in beam.payload.items() if k not in {"generation", "runtime"}}
    row.update(schema_version=1, payload=v1_payload, header={**row["header"], "schema_version": 1})
    with store.connect() as connection:
        connection.execute(insert(EVENTS), [row])
        connection.commit()


def test_a_stored_v1_beam_event_replays_as_v2_with_generation_zero(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=0)
    old_beam = next(e for e in run if e.type == "BeamEvent" and e.cell_id == "c1")
    store.persist([e for e in run if e.event_id != old_beam.event_id])
    _store_as_v1(store, old_beam)
    with store.connect() as connection:
        stored = connection.execute(
            text("SELECT schema_version FROM events WHERE event_id = :id"), {"id": old_beam.event_id}
        ).scalar_one()
    assert stored == 1

    replayed = store.get_event(old_beam.event_id)
    assert replayed is not None
    assert replayed.schema_version == BeamEvent.SCHEMA_VERSION == 2
    beam = payload_of(replayed)
    assert isinstance(beam, BeamEvent) and beam.generation == 0
    ghost = store.ghost_replay_for_eid(old_beam.eid or "", last=100)
    upcast = next(e for e in ghost.events if e.event_id == old_beam.event_id)
    assert upcast.payload["generation"] == 0 and upcast.schema_version == 2
    assert old_beam.event_id in ids(store.get_lineage_for_cell("c1"))


def test_events_keep_their_exact_envelope(store: BeamStore) -> None:
    run = sample_run("run-1", cells=2, generations=0)
    shifted = [e.model_copy(update={"occurred_at": e.occurred_at + timedelta(hours=5)}) for e in run]
    store.persist(shifted)
    assert store.events() == shifted


def test_read_side_finds_beams_by_normal_key_and_the_cells_photon_has_not_routed(store: BeamStore) -> None:
    """SPE's narrow reads (dedup by normal_key, cells still on their way to Photon), on every backend."""
    reader: ReadSide = store
    run = sample_run("run-1", cells=2, generations=1)
    store.persist(run)
    rewrite_c1 = [e for e in run if e.cell_id == "c1" and e.payload.get("stage") == "rewrite"]
    assert ids(reader.events(container_id=run[0].container_id, normal_key="nk:c1")) == ids(rewrite_c1)
    assert reader.events(normal_key="nk:nowhere") == []
    assert reader.events(unrouted_ingest=True) == []  # every cell of the run was routed
    ingest = next(e for e in run if e.type == "BeamEvent" and e.payload["stage"] == "ingest")
    waiting = ingest.model_copy(update={"event_id": "00000000-0000-5000-8000-000000000009", "cell_id": "c9"})
    store.persist([waiting])
    assert ids(reader.events(unrouted_ingest=True)) == [waiting.event_id]
    assert ids(reader.events(cell_id="c9", stage="ingest")) == [waiting.event_id]
