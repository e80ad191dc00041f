"""What SQI reads from the store for one beam: the run record and the container basin.

Both are immutable once written — a SheetSubmitted never changes for its run id
and a basin packet is content-addressed by its id — so ``RecordCache`` may keep
them for the life of a stage instance without changing any outcome; it is a
read-through memo, not state.

Drift uses the basin named by the run's ``SheetSubmitted.basin_id`` (recorded at
submission, so a re-run uses the same basin whatever packets arrived since) and
found among the container's ``BasinSyncPacket`` events; ``None`` there means the
run has no basin and the drift term is absent. A named basin that is not in the
store is an error (the beam fails closed), never a silently missing term.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import Envelope
from stages.base import ReadSide


class ContextError(LookupError):
    """Something the score depends on is not in the store (the beam fails closed)."""


@dataclass
class RecordCache:
    runs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    basins: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def run_record(self, reader: ReadSide, envelope: Envelope) -> Mapping[str, Any]:
        """The SheetSubmitted payload of the beam's run; ``ContextError`` when not stored."""
        run_id = envelope.sheet_run_id
        cached = self.runs.get(run_id)
        if cached is not None:
            return cached
        found = reader.events(sheet_run_id=run_id, types=["SheetSubmitted"])
        if not found:
            raise ContextError(f"run record (SheetSubmitted) of run {run_id!r} not found")
        record = found[0].payload
        self.runs[run_id] = record
        return record

    def basin(self, reader: ReadSide, container_id: str, basin_id: str) -> list[float]:
        """The 64 basin coordinates of packet ``basin_id`` of the container; ``ContextError`` if absent."""
        key = (container_id, basin_id)
        cached = self.basins.get(key)
        if cached is not None:
            return cached
        for env in reader.events(types=["BasinSyncPacket"], container_id=container_id):
            if basin_id in packet_ids(env.payload):
                vector = [float(v) for v in env.payload["basin"]]
                self.basins[key] = vector
                return vector
        raise ContextError(f"basin {basin_id!r} of container {container_id!r} not found")


def packet_ids(packet: Mapping[str, Any]) -> set[str]:
    """The ids a basin packet answers to: its packet id (SHA-256 of the unsigned packet,
    ``basin.packets.packet_id``) and the content id of the basin it carries
    (``basin.container.basin_id`` of container, point and n)."""
    from basin.container import basin_id
    from basin.packets import packet_id
    from contracts.payloads import BasinSyncPacket

    model = BasinSyncPacket.model_validate(dict(packet))
    return {packet_id(model), basin_id(model.container_id, model.basin, model.n)}


def beam_drift(result: Mapping[str, Any], basin: list[float]) -> float:
    """Fisher–Rao distance of the beam's basin signature from ``basin`` (radians, [0, π])."""
    from basin.reader import drift, signature

    return float(drift(signature(result), basin))
