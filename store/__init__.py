"""Beam store: SQLAlchemy models, Alembic migrations, persistence, lineage, ghost replay.

Main entry points (imported lazily so that importing ``store.commands`` for the
CLI stays cheap)::

    from store import open_store, ensure_tables, BeamStore, GhostReplay, BatchWriter
    from store import StoreError, StoreBehind, StoreAhead
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BeamStore": "store.beam_store",
    "GhostReplay": "store.beam_store",
    "open_store": "store.beam_store",
    "ensure_tables": "store.beam_store",
    "BatchWriter": "store.batch_writer",
    "StoreError": "store.errors",
    "StoreBehind": "store.errors",
    "StoreAhead": "store.errors",
    "DEFAULT_STORE_URL": "store.engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    return getattr(import_module(module), name)
