"""Alembic environment: always runs on the connection ``store.migrate`` hands over.

There is no alembic.ini and no URL here: ``store.migrate`` builds the Config in
code and passes an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `beamline store migrate` (store.migrate.upgrade)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
