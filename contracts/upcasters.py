"""Pure, per-step upcasters: ``(type, from_version) -> fn(dict) -> dict``.

An old payload is lifted one version at a time before validation, on consume and
on replay, so a stored v1 event still decodes after v2 ships.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def upcast_beam_event_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """BeamEvent v2 added ``generation`` (SPE lineage depth); every v1 beam was generation 0."""
    lifted = dict(payload)
    lifted.setdefault("generation", 0)
    return lifted


def upcast_dead_letter_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """DeadLetter v2 renamed the reason ``unauthenticated`` to ``auth`` (the name the spec uses)."""
    lifted = dict(payload)
    if lifted.get("reason") == "unauthenticated":
        lifted["reason"] = "auth"
    return lifted


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("BeamEvent", 1): upcast_beam_event_v1_v2,
    ("DeadLetter", 1): upcast_dead_letter_v1_v2,
}


def upcast(event_type: str, version: int, target: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply every step from ``version`` to ``target``; a missing step is a KeyError naming it."""
    current = payload
    for step in range(version, target):
        fn = UPCASTERS.get((event_type, step))
        if fn is None:
            raise KeyError(f"no upcaster for {event_type} v{step}->v{step + 1}")
        current = fn(current)
    return current
