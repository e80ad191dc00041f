"""Alembic, driven from code: where the schema is, where it should be, and upgrading.

No alembic.ini: the Config is built here with the packaged ``store/migrations``
directory and an open connection, so ``beamline store migrate --store URL`` and
``open_store(url, migrate=True)`` work from an installed wheel in any directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from store.engine import display_url
from store.errors import StoreAhead, StoreBehind

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The revision this code's models correspond to."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError("store/migrations has no revisions")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Apply every pending migration (one transaction on PostgreSQL); returns the new revision."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")
    revision = current_revision(engine)
    assert revision is not None
    return revision


def check_current(engine: Engine) -> str:
    """Raise StoreBehind/StoreAhead unless the database is at head; returns the revision."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return current
    url = display_url(engine.url)
    known = {rev.revision for rev in _script().walk_revisions()}
    if current is not None and current not in known:
        raise StoreAhead(
            f"store {url} is at schema revision {current}, unknown to this Beamline (head {head}): "
            "upgrade Beamline"
        )
    raise StoreBehind(behind_message(url, current, head))


def behind_message(url: str, current: str | None, head: str) -> str:
    """The one-line refusal of a store that is not migrated to ``head``."""
    return (
        f"store {url} schema is at revision {current or 'none'}, needs {head}: "
        f"run `beamline store migrate --store {url}`"
    )
