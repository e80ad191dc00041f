"""Alembic migrations of the beam store, run programmatically by ``store.migrate``."""
