"""Read queries of the beam store: filtered event reads, lineage, ghost replay.

Each returns raw ``(seq, header, payload)`` rows; ``BeamStore`` decodes them. They
are written for a store of millions of events: every query starts from an index
(``ix_events_*`` or the unique ``event_id``) and none scans the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, String, and_, bindparam, exists, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from store.models import ENTANGLEMENTS, EVENTS
from store.rows import utc_naive

RawRow = tuple[int, dict[str, Any], dict[str, Any]]
E = EVENTS.c

# BeamEvent stages Photon gives a routed cell (each carries the cell's ``result.normal_key``).
ROUTED_STAGES = ("rewrite", "predict", "deferred")
# DNAMutation payload key listing the cells (or events) a fused/repaired cell came from.
MUTATION_PARENTS_KEY = "parents"


def _as_list(values: str | Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; "BeamEvent" must not become B, e, a, ...
    return [values] if isinstance(values, str) else list(values)


class _Unindexed(FunctionElement[str]):
    """A column the planner may filter on but not search by: ``+column`` on SQLite, the bare column elsewhere.

    Why: a fresh SQLite store has no statistics, so for ``eid = ? AND type IN (...)
    ORDER BY seq`` the planner prefers ``ix_events_type_seq`` (it avoids a sort) and
    walks every event of that type — a read per handled message that grows with the
    store (quadratic over a run). SQLite's unary ``+`` takes the term off the index.
    """

    type = String()
    name = "unindexed"
    inherit_cache = True


@compiles(_Unindexed)
def _bare_column(element: _Unindexed, compiler: SQLCompiler, **kw: object) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_Unindexed, "sqlite")
def _plus_column(element: _Unindexed, compiler: SQLCompiler, **kw: object) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def event_conditions(
    *,
    eid: str | None = None,
    eids: Sequence[str] | None = None,
    container_id: str | None = None,
    sheet_run_id: str | None = None,
    cell_id: str | None = None,
    types: str | Sequence[str] | None = None,
    event_ids: str | Sequence[str] | None = None,
    stage: str | Sequence[str] | None = None,
    after_seq: int | None = None,
    since: datetime | None = None,
    normal_key: str | None = None,
    unrouted_ingest: bool = False,
) -> list[ColumnElement[bool]]:
    """WHERE terms for the filters given (None = no filter on that field).

    ``normal_key``: events whose ``payload.result.normal_key`` is that key (routed beams,
    SPE's ingest beams). ``unrouted_ingest``: ingest beams that carry no normal_key and
    whose cell (run, cell) has no routed beam yet — the cells still on their way to Photon.

    ``eids``: events under any of these EIDs (one read for a batch of EIDs).

    With a selective key (eid, eids, cell, run, event ids) the coarse ``type``/``stage``
    filters are kept off their indexes, so the selective index is the one searched.
    """
    terms: list[ColumnElement[bool]] = []
    selective = any(key is not None for key in (eid, eids, cell_id, sheet_run_id, event_ids))
    type_column: ColumnElement[str] = _Unindexed(E.type) if selective else E.type
    stage_column: ColumnElement[str] = _Unindexed(E.stage) if selective else E.stage
    if eid is not None:
        terms.append(E.eid == eid)
    if eids is not None:
        terms.append(E.eid.in_(_as_list(eids)))
    if container_id is not None:
        terms.append(E.container_id == container_id)
    if sheet_run_id is not None:
        terms.append(E.sheet_run_id == sheet_run_id)
    if cell_id is not None:
        terms.append(E.cell_id == cell_id)
    if types is not None:
        terms.append(type_column.in_(_as_list(types)))
    if event_ids is not None:
        terms.append(E.event_id.in_(_as_list(event_ids)))
    if stage is not None:
        terms.append(stage_column.in_(_as_list(stage)))
    if after_seq is not None:
        terms.append(E.seq > after_seq)
    if since is not None:
        terms.append(E.occurred_at >= utc_naive(since))
    if normal_key is not None:
        terms.append(_normal_key() == normal_key)
    if unrouted_ingest:
        terms.extend(_unrouted_ingest())
    return terms


def _normal_key() -> ColumnElement[str]:
    key: ColumnElement[str] = E.payload[("result", "normal_key")].as_string()
    return key


def _unrouted_ingest() -> list[ColumnElement[bool]]:
    routed = EVENTS.alias("routed")
    # Searched by ix_events_cell_seq: one index probe per ingest beam.
    routed_yet = exists().where(routed.c.cell_id == E.cell_id, routed.c.sheet_run_id == E.sheet_run_id,
                                _Unindexed(routed.c.stage).in_(ROUTED_STAGES))
    return [E.stage == "ingest", _normal_key().is_(None), ~routed_yet]


def select_events(terms: Sequence[ColumnElement[bool]], limit: int | None = None) -> Select[Any]:
    query = select(E.seq, E.header, E.payload).where(*terms).order_by(E.seq)
    if limit is not None:
        query = query.limit(limit)
    return query


def fetch(connection: Connection, query: Select[Any]) -> list[RawRow]:
    return [(row[0], row[1], row[2]) for row in connection.execute(query)]


# ---------------------------------------------------------------- lineage


_LATEST_RUN_OF_CELL = (
    select(E.sheet_run_id).where(E.cell_id == bindparam("cell")).order_by(E.seq.desc()).limit(1)
)


def latest_run_of_cell(connection: Connection, cell_id: str) -> str | None:
    """The sheet run that most recently recorded an event for ``cell_id`` (cell names recur across runs)."""
    return connection.execute(_LATEST_RUN_OF_CELL, {"cell": cell_id}).scalar()


def _ancestors_query(seed: ColumnElement[bool]) -> Select[Any]:
    """Rows matching ``seed`` plus every event reachable by causation_id, in seq order."""
    chain = select(E.seq, E.causation_id).where(seed).cte("chain", recursive=True)
    parent = EVENTS.alias("parent")
    step = select(parent.c.seq, parent.c.causation_id).join(chain, parent.c.event_id == chain.c.causation_id)
    # UNION (not UNION ALL) drops rows already in the chain, so even a causation cycle terminates.
    chain = chain.union(step)
    return (
        select(E.seq, E.header, E.payload, E.event_id, E.type, E.cell_id, E.sheet_run_id)
        .where(E.seq.in_(select(chain.c.seq)))
        .order_by(E.seq)
    )


# Built once: reusing the statement object skips SQLAlchemy's per-call cache-key work.
_CELL_LINEAGE = _ancestors_query(and_(E.cell_id == bindparam("cell"), E.sheet_run_id == bindparam("run")))


def lineage_rows(connection: Connection, cell_id: str, sheet_run_id: str) -> list[RawRow]:
    """All events of the cell in that run plus their causation ancestors, oldest first.

    DNAMutation events may name further ``parents`` (a fusion has several): a
    parent that is an event id brings that event and its ancestors; a parent that
    is a cell id brings that cell's events recorded before the mutation, with
    their ancestors. Repeated until nothing new is named.
    """
    rows: dict[int, tuple[Any, ...]] = {}
    covered_cells = {(sheet_run_id, cell_id)}
    found = connection.execute(_CELL_LINEAGE, {"cell": cell_id, "run": sheet_run_id})
    while True:
        for row in found:
            rows.setdefault(row[0], tuple(row))
        known_events = {row[3] for row in rows.values()}
        terms: list[ColumnElement[bool]] = []
        for seq, _h, payload, _id, event_type, _cell, run in rows.values():
            if event_type != "DNAMutation":
                continue
            named = [p for p in payload.get(MUTATION_PARENTS_KEY, []) if isinstance(p, str)]
            new_events = [p for p in named if p not in known_events]
            new_cells = [p for p in new_events if (run, p) not in covered_cells]
            if not new_cells:
                continue
            covered_cells.update((run, p) for p in new_cells)
            terms.append(E.event_id.in_(new_events))
            terms.append(and_(E.cell_id.in_(new_cells), E.sheet_run_id == run, E.seq < seq))
        if not terms:
            break
        found = connection.execute(_ancestors_query(or_(*terms)))
    return [(row[0], row[1], row[2]) for _, row in sorted(rows.items())]


# ---------------------------------------------------------------- ghost replay


_MEMBERS = (
    select(ENTANGLEMENTS.c.cell_id)
    .where(ENTANGLEMENTS.c.eid == bindparam("eid"))
    .order_by(ENTANGLEMENTS.c.position)
)
_CELLS_SEEN = select(E.cell_id).where(E.eid == bindparam("eid")).distinct()
_LAST_OF_CELL = (
    select(E.seq, E.header, E.payload)
    .where(E.eid == bindparam("eid"), E.cell_id == bindparam("cell"))
    .order_by(E.seq.desc())
    .limit(bindparam("last"))
)
_LAST_OF_EID_LEVEL = (
    select(E.seq, E.header, E.payload)
    .where(E.eid == bindparam("eid"), E.cell_id.is_(None))
    .order_by(E.seq.desc())
    .limit(bindparam("last"))
)


def entanglement_members(connection: Connection, eid: str) -> list[str]:
    return list(connection.execute(_MEMBERS, {"eid": eid}).scalars())


def cells_seen_in_eid(connection: Connection, eid: str) -> list[str | None]:
    """Distinct cell ids of the EID's events (None for EID-level events such as EntanglementLink)."""
    return list(connection.execute(_CELLS_SEEN, {"eid": eid}).scalars())


def last_events_per_cell(
    connection: Connection, eid: str, cells: Sequence[str | None], last: int
) -> list[RawRow]:
    """The last ``last`` events of each cell in the EID, merged in seq order.

    One ``ORDER BY seq DESC LIMIT n`` per cell: each a short backwards range read
    of ix_events_eid_cell_seq, however long the EID's history is.
    """
    rows: list[RawRow] = []
    for cell in cells:
        if cell is None:
            found = connection.execute(_LAST_OF_EID_LEVEL, {"eid": eid, "last": last})
        else:
            found = connection.execute(_LAST_OF_CELL, {"eid": eid, "cell": cell, "last": last})
        rows.extend((row[0], row[1], row[2]) for row in found)
    rows.sort(key=lambda row: row[0])
    return rows
