"""SQLAlchemy models of the beam store. The schema itself is owned by Alembic
(``store/migrations``); these models must match the head revision, which a test
checks with Alembic's ``compare_metadata``.

``events`` is the log: one row per envelope, ``seq`` the store's total order.
The envelope is kept whole and exactly as written: ``header`` holds every
envelope field except ``payload`` (``model_dump(mode="json")``), ``payload`` the
payload, so ``{**header, "payload": payload}`` is the envelope. The scalar columns
next to them are copies of header fields, there to be indexed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (indexable, compact), SQLite's JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")
# SQLite only aliases the rowid (and so stays monotonic and cheap) for INTEGER PRIMARY KEY.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    """One stored envelope."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[int] = mapped_column(Integer)
    # BeamEvent payload stage (ingest, rewrite, ...) or, for other types, the producer stage.
    stage: Mapped[str] = mapped_column(String(64))
    eid: Mapped[str | None] = mapped_column(String(255))
    cell_id: Mapped[str | None] = mapped_column(String(255))
    sheet_run_id: Mapped[str] = mapped_column(String(255))
    container_id: Mapped[str] = mapped_column(String(255))
    # UTC, without zone (SQLite has none); the exact original value lives in ``header``.
    occurred_at: Mapped[datetime] = mapped_column(DateTime())
    causation_id: Mapped[str | None] = mapped_column(String(64))
    producer: Mapped[str] = mapped_column(String(64))
    header: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)

    __table_args__ = (
        # (column, seq) pairs: "the last N events of X" is an index range read backwards.
        UniqueConstraint("event_id", name="uq_events_event_id"),
        Index("ix_events_eid_cell_seq", "eid", "cell_id", "seq"),
        Index("ix_events_cell_seq", "cell_id", "seq"),
        Index("ix_events_run_seq", "sheet_run_id", "seq"),
        Index("ix_events_type_seq", "type", "seq"),
        Index("ix_events_stage_seq", "stage", "seq"),
        Index("ix_events_occurred_at", "occurred_at"),
        Index("ix_events_causation_id", "causation_id"),
        {"sqlite_autoincrement": True},
    )


class EntanglementRow(Base):
    """EID membership, filled from EntanglementLink events."""

    __tablename__ = "entanglements"

    eid: Mapped[str] = mapped_column(String(255), primary_key=True)
    cell_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    sheet_run_id: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_entanglements_run", "sheet_run_id"),)


class KgNodeRow(Base):
    """A knowledge-graph node projected from events (rebuildable; see ``store.kg_tables``)."""

    __tablename__ = "kg_nodes"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    event_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime())

    __table_args__ = (Index("ix_kg_nodes_kind", "kind"),)


class KgEdgeRow(Base):
    """A knowledge-graph edge ``source -kind-> target`` with its provenance event."""

    __tablename__ = "kg_edges"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))
    target: Mapped[str] = mapped_column(String(255))
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    event_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime())

    __table_args__ = (
        Index("ix_kg_edges_kind", "kind"),
        Index("ix_kg_edges_source", "source"),
        Index("ix_kg_edges_target", "target"),
    )


EVENTS = cast(Table, EventRow.__table__)
ENTANGLEMENTS = cast(Table, EntanglementRow.__table__)
KG_NODES = cast(Table, KgNodeRow.__table__)
KG_EDGES = cast(Table, KgEdgeRow.__table__)
