"""What SQI reads from the store for one beam: the run record and the container basin.

Both are immutable once written — a SheetSubmitted never changes for its run id
and a basin packet is content-addressed by its id — so ``RecordCache`` may keep
them for the life of a stage instance without changing any outcome; it is a
read-through memo, not state. It keeps the most recently used ``RECORD_CACHE_SIZE``
of each, so a long-lived stage does not hold every run it has ever scored.

Drift uses the basin named by the run's ``SheetSubmitted.basin_id`` (recorded at
submission, so a re-run uses the same basin whatever packets arrived since) and
found among the container's ``BasinSyncPacket`` events; ``None`` there means the
run has no basin and the drift term is absent. A named basin that is not in the
store is an error (the beam fails closed), never a silently missing term.

A packet in the store is not trusted for being there: anything that can publish on
``beamline.basin`` or write the store could plant one and steer every drift. So
the packet's Ed25519 signature is checked against the trusted keys
(``basin.packets.verify_packet``, as ``basin.sync`` does for imports) before its
basin is used; a named basin whose packets all fail fails the beam closed with the
reason. The trusted keys are the stage's ``trust`` option, else the ``*.pub`` keys of
the node's key directory (``basin.keys.default_key_dir``, where the node key that
signs each run's packet lives), read on first use and re-read once when a packet
names a key not yet known (the node key is created by the first run that ends).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from contracts.envelope import Envelope
from stages.base import ReadSide

RECORD_CACHE_SIZE = 256
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class ContextError(LookupError):
    """Something the score depends on is not in the store (the beam fails closed)."""


@dataclass
class RecordCache:
    runs: OrderedDict[str, Mapping[str, Any]] = field(default_factory=OrderedDict)
    basins: OrderedDict[tuple[str, str], list[float]] = field(default_factory=OrderedDict)
    trust: Any = None  # basin.keys.TrustStore; None: the node's key directory
    _default_trust: Any = None

    def run_record(self, reader: ReadSide, envelope: Envelope) -> Mapping[str, Any]:
        """The SheetSubmitted payload of the beam's run; ``ContextError`` when not stored."""
        run_id = envelope.sheet_run_id
        cached = _recall(self.runs, run_id)
        if cached is not None:
            return cached
        found = reader.events(sheet_run_id=run_id, types=["SheetSubmitted"])
        if not found:
            raise ContextError(f"run record (SheetSubmitted) of run {run_id!r} not found")
        record = found[0].payload
        _keep(self.runs, run_id, record)
        return record

    def basin(self, reader: ReadSide, container_id: str, basin_id: str) -> list[float]:
        """The 64 basin coordinates of packet ``basin_id`` of the container, from a packet whose
        signature verifies; ``ContextError`` if there is none."""
        key = (container_id, basin_id)
        cached = _recall(self.basins, key)
        if cached is not None:
            return cached
        refused: list[str] = []
        for env in reader.events(types=["BasinSyncPacket"], container_id=container_id):
            if basin_id in packet_ids(env.payload):
                reason = self._verify(env.payload)
                if reason is not None:
                    refused.append(reason)
                    continue
                vector = [float(v) for v in env.payload["basin"]]
                _keep(self.basins, key, vector)
                return vector
        if refused:
            raise ContextError(f"basin {basin_id!r} of container {container_id!r} not trusted: {refused[0]}")
        raise ContextError(f"basin {basin_id!r} of container {container_id!r} not found")

    def _verify(self, packet: Mapping[str, Any]) -> str | None:
        from basin.packets import UNTRUSTED_KEY, verify_packet
        from contracts.payloads import BasinSyncPacket

        model = BasinSyncPacket.model_validate(dict(packet))
        if self.trust is not None:
            reason: str | None = verify_packet(model, self.trust)
            return reason
        reason = verify_packet(model, self._node_trust(reload=False))
        if reason is not None and reason.startswith(UNTRUSTED_KEY):
            reason = verify_packet(model, self._node_trust(reload=True))
        return reason

    def _node_trust(self, *, reload: bool) -> Any:
        if self._default_trust is None or reload:
            from basin.keys import TrustStore, default_key_dir

            self._default_trust = TrustStore.from_directory(default_key_dir())
        return self._default_trust


def _recall(cache: OrderedDict[_K, _V], key: _K) -> _V | None:
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
    return found


def _keep(cache: OrderedDict[_K, _V], key: _K, value: _V) -> None:
    cache[key] = value
    while len(cache) > RECORD_CACHE_SIZE:
        cache.popitem(last=False)


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
