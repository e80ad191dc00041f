"""The beam store: every envelope, once, in a total order (``seq``), with the
read models the pipeline, replay, tail and HUD need.

Open it with ``open_store(url)``. Start-up never creates or alters a schema
silently: a store that is not at the Alembic head raises ``StoreBehind`` (one
line: run ``beamline store migrate --store URL``); ``migrate=True`` (or
``ensure_tables``) upgrades first. ``BeamStore`` satisfies the stages'
``ReadSide`` protocol through ``events``.

Thread-safety: the engine's pool hands each thread its own connection, so a
``BeamStore`` may be used from worker threads (``BatchWriter`` offloads writes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import OperationalError

from contracts.envelope import Envelope
from store import bulk, kg_tables, queries
from store import migrate as schema
from store.engine import DEFAULT_STORE_URL, display_url, is_memory_sqlite, make_engine, missing_sqlite_file
from store.errors import StoreBehind, StoreError
from store.models import ENTANGLEMENTS, EVENTS
from store.rows import entanglement_rows, from_row, to_row

# Key of the PostgreSQL advisory lock that serialises batch commits: with it, seq
# order is commit order, so a reader following ``seq`` (tail) never skips a row
# that commits late with a smaller seq.
_PG_WRITE_LOCK = 0x6265616D  # "beam"

#: Recently committed event ids a store object remembers (see ``persist_beam_events``): enough
#: for the window in which consumers re-persist what their producers stored, a few MiB at most.
COMMITTED_IDS_KEPT = 16_384

KgProjection = Callable[[Iterable[Envelope]], tuple[Iterable[Mapping[str, Any]], Iterable[Mapping[str, Any]]]]


@dataclass(frozen=True)
class GhostReplay:
    """What a GHX replay of one EID shows: its member cells and their recent events in seq order."""

    eid: str
    members: list[str]
    events: list[Envelope] = field(default_factory=list)


class BeamStore:
    """Event store over SQLite or PostgreSQL. Construct with ``open_store``."""

    def __init__(self, url: str = DEFAULT_STORE_URL, *, migrate: bool = False) -> None:
        self.url = url
        if not migrate and missing_sqlite_file(url):
            # Refuse without touching the disk: a failed open must not leave an empty file behind.
            raise StoreBehind(schema.behind_message(display_url(url), None, schema.head_revision()))
        self._engine = make_engine(url)
        self.is_postgres = self._engine.dialect.name == "postgresql"
        self.is_memory = is_memory_sqlite(self._engine.url)
        try:
            self.revision = self._upgrade() if migrate else schema.check_current(self._engine)
        except StoreError:
            self._engine.dispose()
            raise
        except OperationalError as exc:
            self._engine.dispose()
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreError(f"cannot open store {display_url(url)}: {reason}") from None
        # Ids this object committed lately. Rows are never deleted, so an id in here is stored
        # for good: a second write of it (every consumer ensuring its input is stored, a
        # redelivery) is skipped without encoding a row or a round trip.
        self._committed: OrderedDict[str, None] = OrderedDict()
        self._kg_merged = kg_tables.MergedRows(COMMITTED_IDS_KEPT)

    # ------------------------------------------------------------ lifecycle

    def _upgrade(self) -> str:
        return schema.upgrade(self._engine)

    def ensure_tables(self) -> str:
        """Migrate this store to the head revision (a no-op when it is there); returns the revision."""
        self.revision = self._upgrade()
        return self.revision

    def close(self) -> None:
        """Release every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> BeamStore:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ writes

    def persist_beam_events(self, envelopes: Sequence[Envelope]) -> int:
        """Store a batch in one transaction, in the given order; returns how many were new.

        Idempotent: an ``event_id`` already stored (redelivery, a retried batch) is
        skipped by ``ON CONFLICT DO NOTHING``, never an error — or, when this object
        committed it lately, before any row is built. EntanglementLink events also
        record their members in ``entanglements``.
        """
        unique: dict[str, Envelope] = {}
        committed = self._committed
        for envelope in envelopes:
            if envelope.event_id not in committed:
                unique.setdefault(envelope.event_id, envelope)
        if not unique:
            return 0
        rows = [to_row(envelope) for envelope in unique.values()]
        links = [row for envelope in unique.values() for row in entanglement_rows(envelope)]
        with self._engine.begin() as connection:
            if self.is_postgres:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK})
            inserted = bulk.insert_rows(connection, EVENTS, rows, skip_conflicts_on=("event_id",))
            if links:
                bulk.insert_rows(connection, ENTANGLEMENTS, links, skip_conflicts_on=("eid", "cell_id"))
        self._remember(unique)
        return inserted

    def _remember(self, event_ids: Iterable[str]) -> None:
        committed = self._committed
        for event_id in event_ids:
            committed[event_id] = None
        while len(committed) > COMMITTED_IDS_KEPT:
            committed.popitem(last=False)

    persist = persist_beam_events

    # ------------------------------------------------------------ reads

    def events(
        self,
        *,
        eid: str | None = None,
        eids: Sequence[str] | None = None,
        container_id: str | None = None,
        sheet_run_id: str | None = None,
        cell_id: str | None = None,
        types: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
        stage: str | Sequence[str] | None = None,
        after_seq: int | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        normal_key: str | None = None,
        unrouted_ingest: bool = False,
    ) -> list[Envelope]:
        """Events matching every given filter, in seq order, upcast to current versions.
        ``eids``: events under any of these EIDs."""
        return [
            envelope
            for _, envelope in self.events_with_seq(
                after_seq,
                limit,
                eid=eid,
                eids=eids,
                container_id=container_id,
                sheet_run_id=sheet_run_id,
                cell_id=cell_id,
                types=types,
                event_ids=event_ids,
                stage=stage,
                since=since,
                normal_key=normal_key,
                unrouted_ingest=unrouted_ingest,
            )
        ]

    def events_with_seq(
        self,
        after_seq: int | None = None,
        limit: int | None = None,
        *,
        eid: str | None = None,
        eids: Sequence[str] | None = None,
        container_id: str | None = None,
        sheet_run_id: str | None = None,
        cell_id: str | None = None,
        types: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
        stage: str | Sequence[str] | None = None,
        since: datetime | None = None,
        normal_key: str | None = None,
        unrouted_ingest: bool = False,
    ) -> list[tuple[int, Envelope]]:
        """``(seq, envelope)`` pairs with seq > ``after_seq``, ascending, at most ``limit``: what tail follows."""
        terms = queries.event_conditions(
            eid=eid,
            eids=eids,
            container_id=container_id,
            sheet_run_id=sheet_run_id,
            cell_id=cell_id,
            types=types,
            event_ids=event_ids,
            stage=stage,
            after_seq=after_seq,
            since=since,
            normal_key=normal_key,
            unrouted_ingest=unrouted_ingest,
        )
        with self._engine.connect() as connection:
            rows = queries.fetch(connection, queries.select_events(terms, limit))
        return [(seq, from_row(header, payload)) for seq, header, payload in rows]

    def iter_events(self, *, after_seq: int = 0, batch_size: int = 1000, **query: Any) -> Iterator[Envelope]:
        """Every stored event matching ``query`` (the filters of ``events``) in seq order, read in
        batches: projections over a large store, a whole run's summary, never all of it in memory."""
        cursor = after_seq
        while True:
            batch = self.events_with_seq(cursor, batch_size, **query)
            if not batch:
                return
            for _, envelope in batch:
                yield envelope
            cursor = batch[-1][0]

    def max_seq(self) -> int:
        """The highest seq stored (0 for an empty store)."""
        with self._engine.connect() as connection:
            return int(connection.execute(select(func.coalesce(func.max(EVENTS.c.seq), 0))).scalar_one())

    def get_event(self, event_id: str) -> Envelope | None:
        found = self.events(event_ids=[event_id])
        return found[0] if found else None

    def dead_letters(self) -> list[Envelope]:
        """Every DeadLetter event, oldest first."""
        return self.events(types=["DeadLetter"])

    def entanglement_map(self, sheet_run_id: str | None = None) -> dict[str, list[str]]:
        """EID -> member cell ids (in the order the EntanglementLink listed them)."""
        query = select(ENTANGLEMENTS.c.eid, ENTANGLEMENTS.c.cell_id).order_by(
            ENTANGLEMENTS.c.eid, ENTANGLEMENTS.c.position
        )
        if sheet_run_id is not None:
            query = query.where(ENTANGLEMENTS.c.sheet_run_id == sheet_run_id)
        mapping: dict[str, list[str]] = {}
        with self._engine.connect() as connection:
            for eid, cell_id in connection.execute(query):
                mapping.setdefault(eid, []).append(cell_id)
        return mapping

    def get_lineage_for_cell(self, cell_id: str, *, sheet_run_id: str | None = None) -> list[Envelope]:
        """The chain of causation of a cell, oldest first, across stages and SPE generations.

        All events of ``cell_id`` in ``sheet_run_id`` (default: the run that most
        recently recorded the cell, since cell names recur across runs) plus every
        causation ancestor, and the ancestry of the ``parents`` DNAMutation events
        name. Deduplicated, in seq order; empty for an unknown cell.
        """
        with self._engine.connect() as connection:
            run = sheet_run_id or queries.latest_run_of_cell(connection, cell_id)
            if run is None:
                return []
            rows = queries.lineage_rows(connection, cell_id, run)
        return [from_row(header, payload) for _, header, payload in rows]

    def ghost_replay_for_eid(self, eid: str, last: int | None = None) -> GhostReplay:
        """The last ``last`` events of every cell of the EID (all when None), in seq order.

        Cells are the recorded entanglement members plus any other cell with
        events under this EID; EID-level events (no cell) count as one more group.
        ``members`` is the recorded membership (or the cells seen when none was).
        """
        if last is not None and last < 0:
            raise ValueError("last must be >= 0")
        with self._engine.connect() as connection:
            members = queries.entanglement_members(connection, eid)
            seen = queries.cells_seen_in_eid(connection, eid)
            if last is None:
                rows = queries.fetch(connection, queries.select_events(queries.event_conditions(eid=eid)))
            else:
                cells: list[str | None] = [*members, *(c for c in seen if c not in members)]
                rows = queries.last_events_per_cell(connection, eid, cells, last)
        if not members:
            members = sorted(c for c in seen if c is not None)
        return GhostReplay(eid=eid, members=members, events=[from_row(h, p) for _, h, p in rows])

    # ------------------------------------------------------------ knowledge graph

    def replace_kg(self, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]]) -> None:
        """Replace the whole KG projection in one transaction (see ``store.kg_tables``)."""
        self._kg_merged.forget()
        with self._engine.begin() as connection:
            kg_tables.replace(connection, nodes, edges)

    def merge_kg(self, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]]) -> int:
        """Add KG rows without deleting any, in one transaction (see ``kg_tables.merge``).

        Rows this object merged lately and that would change nothing (a known edge, a known
        node bringing no attribute it lacks) are left out before any SQL: the KG stage
        projects each batch with its ancestors, so most rows it hands over are repeats.
        """
        merged = self._kg_merged
        node_items = [item for item in nodes if not merged.has_node(item)]
        edge_items = [item for item in edges if not merged.has_edge(item)]
        if not node_items and not edge_items:
            return 0
        with self._engine.begin() as connection:
            changed = kg_tables.merge(connection, node_items, edge_items)
        merged.remember(node_items, edge_items)
        return changed

    def rebuild_kg(self, projection: KgProjection) -> tuple[int, int]:
        """Run ``projection`` over every stored event and store its result; returns (nodes, edges)."""
        nodes, edges = projection(self.iter_events())
        node_list, edge_list = list(nodes), list(edges)
        self.replace_kg(node_list, edge_list)
        return len(node_list), len(edge_list)

    def kg_nodes(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            return kg_tables.read_nodes(connection, kind)

    def kg_edges(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            return kg_tables.read_edges(connection, kind)

    # ------------------------------------------------------------ raw access

    def connect(self) -> Connection:
        """A raw SQLAlchemy connection (maintenance, tests). Prefer the typed readers."""
        return self._engine.connect()


def open_store(url: str = DEFAULT_STORE_URL, *, migrate: bool = False) -> BeamStore:
    """Open the store at ``url``; StoreBehind unless it is at head (or ``migrate=True`` upgrades it)."""
    return BeamStore(url, migrate=migrate)


def ensure_tables(url: str = DEFAULT_STORE_URL) -> BeamStore:
    """Open ``url`` and migrate it to head first: the seeds' start-up call, for a fresh store."""
    return BeamStore(url, migrate=True)
