"""After a run: fold the run's approved beams into the container basin and record a signed packet.

The container basin is the memory of what *normal* looks like (basin.md): the
incremental Fréchet mean of approved signatures. Each run ends with one
``BasinSyncPacket`` event signed by this node's Ed25519 key; the next run names
that packet in its ``SheetSubmitted.basin_id`` and SQI measures drift against it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.payloads import BasinPacketRejected, BasinSyncPacket
from contracts.registry import make_event

NODE_KEY = "node"


def _node_signer() -> Any:
    from basin.keys import KeyStore

    keys = KeyStore()
    if not (keys.directory / f"{NODE_KEY}.key").exists():
        keys.directory.mkdir(parents=True, exist_ok=True)
        keys.generate(NODE_KEY)
    return keys.signer(NODE_KEY), keys.directory


def current_basin(store: Any, container_id: str, trust: Any) -> tuple[Any, list[BasinPacketRejected]]:
    """The container basin folded from every packet on record (basin.stage), and the ones refused."""
    from basin.stage import fold_packets

    packets = store.events(container_id=container_id, types=["BasinSyncPacket"])
    return fold_packets(container_id, [BasinSyncPacket.model_validate(p.payload) for p in packets], trust=trust)


def update_container_basin(store: Any, container_id: str, run_id: str) -> str | None:
    """Absorb the run's approved beams; persist the signed packet. Returns its id (None if nothing approved)."""
    # Read in batches: a 100,000-cell run's beams never sit in memory at once.
    approved = store.iter_events(sheet_run_id=run_id, types=["BeamEvent"], stage="approved")
    first = next(approved, None)
    if first is None:
        return None
    from basin.keys import TrustStore
    from basin.packets import packet_id
    from basin.reader import default_reader
    from basin.stage import rejection_key
    from basin.sync import export_packet

    signer, key_dir = _node_signer()
    state, rejections = current_basin(store, container_id, TrustStore.from_directory(key_dir))
    now = datetime.now(UTC)
    stamp = now.isoformat()
    reader = default_reader()
    for beam in itertools.chain([first], approved):
        out = reader.read(beam.payload["result"])
        state = state.absorb(out.signature, out.telemetry, timestamp=stamp, source=f"run:{run_id}")
    packet, _ = export_packet(state, signer=signer, producer_id=f"{container_id}@node", created_at=stamp)
    # A refusal is one fact per packet, whichever run (or the sync stage) notices it: keyed by the
    # packet, so the store keeps it once instead of once per run.
    events: list[Envelope] = [
        make_event(r, stage_id="basin", index=0, sheet_run_id=run_id, container_id=container_id,
                   occurred_at=now, id_key=rejection_key(r))
        for r in rejections
    ]
    events.append(make_event(packet, stage_id="basin", index=0, sheet_run_id=run_id, container_id=container_id,
                             occurred_at=now))
    store.persist_beam_events(events)
    return str(packet_id(packet))
