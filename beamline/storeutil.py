"""Opening the configured store the way every command should."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def is_fresh_sqlite(url: str) -> bool:
    prefix = "sqlite:///"
    return url.startswith(prefix) and not Path(url[len(prefix):]).exists()


def open_configured_store(url: str, *, create_if_fresh: bool = True) -> Any:
    """A brand-new SQLite file is created at head (``ensure_tables``); an existing store that is
    behind is refused with the one-line ``beamline store migrate`` instruction."""
    from store.beam_store import open_store

    return open_store(url, migrate=create_if_fresh and is_fresh_sqlite(url))
