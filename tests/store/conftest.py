"""Backends of the store contract suite: a SQLite file per test, and a fresh
PostgreSQL schema per test (dropped afterwards) when 127.0.0.1:5432 answers.

``BEAMLINE_TEST_PG`` overrides the PostgreSQL server URL (without schema).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import lru_cache

import pytest

from store.beam_store import BeamStore, open_store

PG_SERVER_URL = os.environ.get("BEAMLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _libpq_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parts = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "dbname": parsed.database or "test",
        "user": parsed.username or "postgres",
    }
    if parsed.password:
        parts["password"] = parsed.password
    return " ".join(f"{key}={value}" for key, value in parts.items())


@lru_cache(maxsize=1)
def postgres_unreachable_reason() -> str | None:
    import psycopg

    try:
        with psycopg.connect(_libpq_dsn(PG_SERVER_URL), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL at {PG_SERVER_URL} unreachable: {first}"
    return None


def _postgres_schema_url() -> Iterator[str]:
    reason = postgres_unreachable_reason()
    if reason is not None:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    import psycopg

    schema = f"beamline_store_{uuid.uuid4().hex[:12]}"
    dsn = _libpq_dsn(PG_SERVER_URL)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        # search_path puts every table, index and alembic_version in the test's own schema.
        yield f"{PG_SERVER_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """URL of an empty, never-migrated store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/beams.db"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def store(store_url: str) -> Iterator[BeamStore]:
    """A migrated, empty store on each backend."""
    opened = open_store(store_url, migrate=True)
    try:
        yield opened
    finally:
        opened.close()
