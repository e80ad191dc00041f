"""Initial beam store: events, entanglements, kg_nodes, kg_edges.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out here rather than imported from store.models: a migration is frozen
# history and must not change when the models move on.
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("eid", sa.String(255), nullable=True),
        sa.Column("cell_id", sa.String(255), nullable=True),
        sa.Column("sheet_run_id", sa.String(255), nullable=False),
        sa.Column("container_id", sa.String(255), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("causation_id", sa.String(64), nullable=True),
        sa.Column("producer", sa.String(64), nullable=False),
        sa.Column("header", JSON_DOCUMENT, nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_eid_cell_seq", "events", ["eid", "cell_id", "seq"])
    op.create_index("ix_events_cell_seq", "events", ["cell_id", "seq"])
    op.create_index("ix_events_run_seq", "events", ["sheet_run_id", "seq"])
    op.create_index("ix_events_type_seq", "events", ["type", "seq"])
    op.create_index("ix_events_stage_seq", "events", ["stage", "seq"])
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.create_index("ix_events_causation_id", "events", ["causation_id"])

    op.create_table(
        "entanglements",
        sa.Column("eid", sa.String(255), primary_key=True),
        sa.Column("cell_id", sa.String(255), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sheet_run_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_entanglements_run", "entanglements", ["sheet_run_id"])

    op.create_table(
        "kg_nodes",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("attrs", JSON_DOCUMENT, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_kg_nodes_kind", "kg_nodes", ["kind"])

    op.create_table(
        "kg_edges",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("attrs", JSON_DOCUMENT, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_kg_edges_kind", "kg_edges", ["kind"])
    op.create_index("ix_kg_edges_source", "kg_edges", ["source"])
    op.create_index("ix_kg_edges_target", "kg_edges", ["target"])


def downgrade() -> None:
    op.drop_table("kg_edges")
    op.drop_table("kg_nodes")
    op.drop_table("entanglements")
    op.drop_table("events")
