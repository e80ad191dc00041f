"""Alembic migrations of the beam store, run programmatically by ``store.migrate``
(``beamline store migrate``; there is no alembic.ini).

Adding a schema change: copy ``versions/0001_initial.py`` to ``versions/000N_<what>.py``,
set ``revision = "000N"`` and ``down_revision`` to the previous head, write
``upgrade``/``downgrade`` with ``op.*`` (SQLite runs them in batch mode), and
change ``store/models.py`` to match — ``test_migrated_schema_matches_the_models``
compares the two on SQLite and PostgreSQL.
"""
