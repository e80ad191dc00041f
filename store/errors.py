"""Errors the store raises at start-up; each message is one line a user can act on."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store that cannot be used as it is (schema mismatch, unreachable database)."""


class StoreBehind(StoreError):
    """The store's schema is older than this code's Alembic head (or has no schema yet)."""


class StoreAhead(StoreError):
    """The store was migrated by a newer Beamline: its revision is unknown to this code."""
