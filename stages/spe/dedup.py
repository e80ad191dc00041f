"""Which normal forms a container already runs: SPE reinjects a candidate only if its
Photon normal_key is new there.

The key is Photon's ``normal_key`` (``stages.photon.normalize``), the same one the
candidate gets, so a candidate equal to any cell the container has run — an
original cell or an earlier candidate — is recognised. A key is held by cells
``(sheet_run_id, cell_id)``. A candidate whose cell is already recorded is not
reinjected again either: re-publishing its ingest beam would send it round the
loop (Photon → … → SQI → SPE) once more.

Keys come from recorded beams: Photon's routed beams carry the key; an ingest beam
Photon has not routed yet is normalised here (SPE's own ingest beams carry the key).
Only the holders of the candidate's key are read, never the container's history.
Decisions handled in one batch are not in the store yet, so the stage also keeps
the keys it has reinjected itself (``Claims``) — a cache of its own outputs, which
a restarted stage finds again in the store. A claim by the candidate's own cell does
not count: a retried input whose outputs were never stored must propose them again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.envelope import Envelope
from stages.base import ReadSide

Holder = tuple[str, str]  # (sheet_run_id, cell_id)
KeyHolders = dict[str, set[Holder]]

ROUTED_STAGES = ("rewrite", "predict", "deferred")
KEYED_STAGES = (*ROUTED_STAGES, "ingest")  # the beams that may carry a normal_key
_CACHE_SIZE = 4096
_MAX_CLAIMS = 4096  # per container; older claims are in the store by then


class NormalKeyIndex:
    """The holders of one normal_key in a container's recorded beams; ingest keys cached by event id.

    Reads only what can hold the key: beams that carry it (Photon's routed beams, SPE's
    ingest beams) and the ingest beams Photon has not routed yet (normalised here), so a
    lookup reads a bounded number of rows whatever the container's history.
    """

    def __init__(self) -> None:
        self._ingest_keys: OrderedDict[str, str | None] = OrderedDict()

    def holders(self, reader: ReadSide, container_id: str, key: str) -> set[Holder]:
        """Cells ``(sheet_run_id, cell_id)`` of the container whose recorded beams hold ``key``."""
        keyed = reader.events(container_id=container_id, types=["BeamEvent"], stage=KEYED_STAGES, normal_key=key)
        found = {(beam.sheet_run_id, str(beam.cell_id)) for beam in keyed}
        for beam in reader.events(container_id=container_id, types=["BeamEvent"], unrouted_ingest=True):
            if self._ingest_key(beam) == key:
                found.add((beam.sheet_run_id, str(beam.cell_id)))
        return found

    def _ingest_key(self, beam: Envelope) -> str | None:
        if beam.event_id in self._ingest_keys:
            self._ingest_keys.move_to_end(beam.event_id)
            return self._ingest_keys[beam.event_id]
        key = _photon_key(beam.payload["result"])
        self._ingest_keys[beam.event_id] = key
        while len(self._ingest_keys) > _CACHE_SIZE:
            self._ingest_keys.popitem(last=False)
        return key


def _photon_key(result: Mapping[str, Any]) -> str | None:
    if result.get("normal_key"):
        return str(result["normal_key"])
    if "expanded" not in result or "grid" not in result:
        return None
    from stages.codex.ast import Node
    from stages.codex.grid import GridSpec
    from stages.photon.normalize import normalize

    try:
        return str(normalize(Node.from_json(result["expanded"]), GridSpec.from_json(result["grid"])).normal_key)
    except (KeyError, TypeError, ValueError, RecursionError):
        return None  # Photon rejects it too (a StageError): it holds no key


class Claims:
    """Keys this stage reinjected, per container, until the store shows them."""

    def __init__(self, max_containers: int = 64) -> None:
        self._claims: OrderedDict[str, KeyHolders] = OrderedDict()
        self._max = max_containers

    def of(self, container_id: str) -> KeyHolders:
        return {key: set(holders) for key, holders in self._claims.get(container_id, {}).items()}

    def record(self, outputs: list[Envelope]) -> None:
        for env in outputs:
            if env.type == "BeamEvent" and env.payload.get("stage") == "ingest":
                key = env.payload["result"].get("normal_key")
                if key:
                    claims = self._claims.setdefault(env.container_id, {})
                    claims.setdefault(str(key), set()).add((env.sheet_run_id, str(env.cell_id)))
                    self._claims.move_to_end(env.container_id)
                    while len(claims) > _MAX_CLAIMS:
                        del claims[next(iter(claims))]
        while len(self._claims) > self._max:
            self._claims.popitem(last=False)


@dataclass(frozen=True)
class KnownKeys:
    recorded: Callable[[str], set[Holder]]  # holders of a key in the store
    claimed: KeyHolders  # reinjected by this stage, maybe not stored yet

    def is_duplicate(self, key: str, own: Holder) -> bool:
        """True when the store holds ``key`` (any cell) or another claimed cell does."""
        return bool(self.recorded(key)) or bool(self.claimed.get(key, set()) - {own})
