"""Compare a re-run's events with the recorded ones, ignoring only wall-clock fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import model_for

# Envelope fields that are wall-clock or deployment facts, not outcomes. The QKD_ON tag (``auth``)
# is a MAC over the whole envelope, wall-clock fields included, so a re-run never reproduces it;
# the fields it covers are compared one by one instead.
_ENVELOPE_IGNORED = frozenset({"occurred_at", "producer", "auth"})


def comparable(envelope: Envelope) -> dict[str, Any]:
    """The envelope as data with every wall-clock field removed."""
    data = envelope.model_dump(mode="json")
    for name in _ENVELOPE_IGNORED:
        data.pop(name, None)
    for path in model_for(envelope.type).WALL_CLOCK_FIELDS:
        _drop(data["payload"], path)
    return data


def _drop(data: Any, path: str) -> None:
    """Remove ``path`` from ``data`` in place: ``a.b`` is key b of dict a, ``a[*].b`` key b of
    every element of list a. A path that is absent (an optional field left out) is no error."""
    head, _, rest = path.partition(".")
    each = head.endswith("[*]")
    key = head.removesuffix("[*]")
    if not isinstance(data, dict) or key not in data:
        return
    if not rest:
        del data[key]
        return
    value = data[key]
    for item in (value if each and isinstance(value, list) else [value]):
        _drop(item, rest)


def _paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """JSON paths where a and b differ (floats compared exactly: the pipeline is deterministic)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out.extend(_paths(a.get(key), b.get(key), f"{prefix}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out.extend(_paths(x, y, f"{prefix}[{i}]"))
        return out
    return [] if a == b else [prefix or "$"]


@dataclass
class EventDiff:
    event_id: str
    type: str
    cell_id: str | None
    problem: str  # "missing" | "unexpected" | "changed"
    paths: list[str] = field(default_factory=list)


@dataclass
class RerunReport:
    eid: str
    compared: int
    diffs: list[EventDiff]

    @property
    def identical(self) -> bool:
        return not self.diffs


def load_dependent(envelope: Envelope) -> bool:
    """A deferred beam records QWave's backlog at that moment: whether one exists depends on
    load, not on the cell (the routed events that follow it are identical either way)."""
    return envelope.type == "BeamEvent" and envelope.payload.get("stage") == "deferred"


def diff_events(eid: str, recorded: list[Envelope], produced: list[Envelope]) -> RerunReport:
    """Match events by their deterministic id and compare everything but wall-clock fields
    (deferred beams are left out on both sides: ``load_dependent``)."""
    recorded = [env for env in recorded if not load_dependent(env)]
    produced = [env for env in produced if not load_dependent(env)]
    produced_by_id = {env.event_id: env for env in produced}
    recorded_ids = {env.event_id for env in recorded}
    diffs: list[EventDiff] = []
    for env in recorded:
        other = produced_by_id.get(env.event_id)
        if other is None:
            diffs.append(EventDiff(env.event_id, env.type, env.cell_id, "missing"))
            continue
        changed = _paths(comparable(env), comparable(other))
        if changed:
            diffs.append(EventDiff(env.event_id, env.type, env.cell_id, "changed", changed))
    for env in produced:
        if env.event_id not in recorded_ids:
            diffs.append(EventDiff(env.event_id, env.type, env.cell_id, "unexpected"))
    return RerunReport(eid=eid, compared=len(recorded), diffs=diffs)
