"""Engine construction: one place that knows SQLite and PostgreSQL quirks.

* SQLite file stores run in WAL mode (readers never block the writer) with a busy
  timeout, set on every new DBAPI connection by a ``connect`` event.
* In-memory SQLite (``sqlite://``, scratch stores for replay re-runs) uses one
  shared connection, otherwise every pooled connection would see its own empty
  database.
* JSON columns are (de)serialised with orjson on both dialects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

DEFAULT_STORE_URL = "sqlite:///beamline.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Replay reads hop between index and table pages of a large file: memory-mapped
# reads avoid a syscall per page, and a bigger page cache keeps index interiors hot.
SQLITE_MMAP_BYTES = 256 * 2**20
SQLITE_CACHE_KIB = 16 * 1024


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def missing_sqlite_file(url: str | URL) -> bool:
    """A SQLite file URL whose file does not exist (opening it would create an empty file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or is_memory_sqlite(parsed):
        return False
    return not Path(str(parsed.database)).exists()


def display_url(url: str | URL) -> str:
    """The URL as it may be printed: the password (if any) masked."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` configured for event-store work on its dialect."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    common: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if backend == "sqlite":
        if is_memory_sqlite(parsed):
            engine = create_engine(
                parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}, **common
            )
        else:
            engine = create_engine(
                parsed,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                **common,
            )
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, **common)
    raise ValueError(f"unsupported store backend {backend!r} (use sqlite:/// or postgresql+psycopg://)")


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: concurrent readers (tail, HUD) while a worker writes; NORMAL sync is
        # durable across process crashes in WAL mode, which is the failure we test.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
