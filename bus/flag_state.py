"""The flags a runner holds in force, changed live by ``FlagChanged`` events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import digest

log = logging.getLogger(__name__)

DigestFn = Callable[[Mapping[str, Any]], str]


def default_digest(flags: Mapping[str, Any]) -> str:
    """Same digest as ``beamline.flags.digest``: sha256 of sorted canonical JSON, 16 hex."""
    return digest(dict(flags), 16)


def _coerce(name: str, value: Any) -> Any:
    """Check the value against the flag's declared type when the flag catalogue is available."""
    try:
        from beamline.flags import coerce
    except ImportError:
        return value
    return coerce(name, value)


class FlagState:
    """A plain dict of flags plus its digest; ``apply`` takes a FlagChanged event."""

    def __init__(self, flags: Mapping[str, Any], flags_digest: str, digest_fn: DigestFn = default_digest):
        self._values = dict(flags)
        self.digest = flags_digest
        self._digest_fn = digest_fn
        self._view: Mapping[str, Any] = MappingProxyType(dict(self._values))
        self.changes = 0

    @property
    def values(self) -> Mapping[str, Any]:
        """Read-only snapshot of the flags in force (a new snapshot after each change)."""
        return self._view

    def enabled(self, stage_id: str) -> bool:
        """The ``stage.<id>`` toggle (absent = enabled)."""
        return bool(self._values.get(f"stage.{stage_id}", True))

    def apply(self, envelope: Envelope) -> bool:
        """Apply a FlagChanged event; returns True when a value changed. Invalid changes are logged."""
        if envelope.type != "FlagChanged":
            return False
        name = str(envelope.payload.get("name", ""))
        try:
            value = _coerce(name, envelope.payload.get("value"))
        except ValueError as exc:
            log.warning("ignoring FlagChanged %s: %s", envelope.event_id, exc)
            return False
        if name in self._values and self._values[name] == value:
            return False
        self._values[name] = value
        self._view = MappingProxyType(dict(self._values))
        self.digest = self._digest_fn(self._values)
        self.changes += 1
        log.info("flag %s = %r applied (flags digest %s)", name, value, self.digest)
        return True
