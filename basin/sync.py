"""Importing basin packets: verify, then merge in one of three modes, never silently dropping one.

``merge_packet(state, packet, mode, trust=...) -> (new_state, rejection | None)``
is a pure function of its inputs. The state is a ``Basin`` whose ``sync`` part
holds the Merkle frontier (``heads``) and, per producer, the latest packet
accepted (``seen``: id, n, created_at — a version vector, bounded by the number
of producers, so the basin file stays small).

Order of checks: authenticity (``verify_packet``) → container → frozen → replay
(same id as already accepted: a no-op, no event) → stale (older than the
producer's accepted packet) → outlier (Fisher–Rao distance > ``max_drift``, for
the merging modes when the state has absorbed anything). Every refusal is a
``BasinPacketRejected`` with reason ``"<code>: <detail>"``.

Modes:
* ``full``     — replace: adopt the packet's basin, n, Φ, κ, regime. Instances
                 that import the same packet hold the same basin id.
* ``partial``  — weighted merge (the coordinator role). If the packet was built
                 on exactly this state (parent = our only head, and we have not
                 changed since that head) it already contains it: fast-forward. Otherwise the geodesic
                 weighted mean of (state, n) and (packet, w), where w is the
                 packet's *new* support — its n minus the n of its parent when
                 we know that parent (our own earlier export, or the producer's
                 previous packet) — so re-exported content is not counted twice.
* ``observer`` — move toward the packet along the geodesic by
                 0.3·(Φₛ/0.85)·g(κₛ)·g(κₜ), g(κ) = exp(−(κ−64)²/200); n unchanged.

``coordinate(state, packets)`` merges a batch in partial mode *independently of
arrival order*: packets are deduplicated and sorted by id, each is judged
against the pre-batch state, and the accepted ones are combined in one Karcher
mean. Two coordinators fed the same packets in any order reach the same id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from basin import geometry
from basin.container import Basin, SyncInfo, SyncMark
from basin.keys import Signer, TrustStore
from basin.packets import make_packet, packet_id, parse_timestamp, verify_packet
from basin.telemetry import classify_regime, observer_step
from contracts.payloads import BasinPacketRejected, BasinSyncPacket

MergeMode = Literal["full", "partial", "observer"]
MERGE_MODES: tuple[MergeMode, ...] = ("full", "partial", "observer")
DEFAULT_MAX_DRIFT = 0.8
"""Radians of Fisher–Rao distance. Signatures of one kind of cell lie ~0.1–0.3 apart
with the default kernel, different kinds ~0.3–0.5; a basin 0.8 away is not a peer."""

CONTAINER_MISMATCH = "container_mismatch"
FROZEN_BASIN = "frozen_basin"
STALE = "stale"
OUTLIER = "outlier"


def rejection_code(rejection: BasinPacketRejected) -> str:
    return rejection.reason.split(":", 1)[0]


def _reject(packet: BasinSyncPacket, pid: str, reason: str) -> BasinPacketRejected:
    return BasinPacketRejected(packet_id=pid, container_id=packet.container_id, reason=reason)


def _is_replay(state: Basin, packet: BasinSyncPacket, pid: str) -> bool:
    mark = state.sync.seen.get(packet.producer_id)
    return (mark is not None and mark.packet_id == pid) or pid in state.sync.heads


def _stale_reason(state: Basin, packet: BasinSyncPacket) -> str | None:
    mark = state.sync.seen.get(packet.producer_id)
    if mark is None:
        return None
    if (parse_timestamp(packet.created_at), packet.n) < (parse_timestamp(mark.created_at), mark.n):
        return (f"{STALE}: older than packet {mark.packet_id[:16]} already accepted from "
                f"{packet.producer_id} (n {packet.n} < {mark.n} or earlier created_at)")
    return None


def _admission(
    state: Basin, packet: BasinSyncPacket, mode: MergeMode, trust: TrustStore, max_drift: float
) -> tuple[str, str | None, bool]:
    """(packet id, rejection reason or None, is_replay) for one packet against ``state``."""
    pid = packet_id(packet)
    reason = verify_packet(packet, trust)
    if reason is None and packet.container_id != state.container_id:
        reason = f"{CONTAINER_MISMATCH}: packet is for {packet.container_id!r}, basin is {state.container_id!r}"
    if reason is None and state.frozen:
        reason = f"{FROZEN_BASIN}: {state.container_id} basin {state.id} is a frozen reference"
    if reason is None and _is_replay(state, packet, pid):
        return pid, None, True
    if reason is None:
        reason = _stale_reason(state, packet)
    if reason is None and mode != "full" and state.n > 0:
        distance = geometry.fisher_rao(state.point, packet.basin)
        if distance > max_drift:
            reason = f"{OUTLIER}: Fisher–Rao distance {distance:.4f} > max_drift {max_drift:.4f}"
    return pid, reason, False


def _can_fast_forward(state: Basin, packet: BasinSyncPacket) -> bool:
    """True when ``packet`` descends from our only head and we have not changed since that head."""
    return (
        packet.parent is not None
        and state.sync.heads == (packet.parent,)
        and state.sync.head_state == state.id
    )


def _new_support(state: Basin, packet: BasinSyncPacket) -> int:
    """The part of packet.n this state has not absorbed yet (see module docstring)."""
    base = 0
    for mark in state.sync.seen.values():
        if packet.parent is not None and mark.packet_id == packet.parent:
            base = mark.n
            break
    else:
        own = state.sync.seen.get(packet.producer_id)
        if own is not None:
            base = own.n
    return max(0, packet.n - base)


def _sync_after(state: Basin, packets: Sequence[tuple[str, BasinSyncPacket]]) -> SyncInfo:
    """Record merged packets: mark each producer, replace the parents they supersede in ``heads``."""
    seen = dict(state.sync.seen)
    for pid, p in packets:
        seen[p.producer_id] = SyncMark(packet_id=pid, n=p.n, created_at=p.created_at)
    parents = {p.parent for _, p in packets if p.parent is not None}
    heads = (set(state.sync.heads) - parents) | {pid for pid, _ in packets}
    return SyncInfo(heads=tuple(sorted(heads)), seen=dict(sorted(seen.items())))


def _replace(state: Basin, pid: str, packet: BasinSyncPacket) -> Basin:
    # The resultant of the producer's mean is not on the wire; 1.0 weighs the packet's
    # n signatures as tightly concentrated, which is what a converged basin is.
    prov = state.provenance.model_copy(update={
        "n": packet.n, "phi": packet.phi, "kappa": packet.kappa, "regime": packet.regime,
        "source": packet.producer_id, "timestamp": packet.created_at,
    })
    adopted = state.model_copy(update={"point": tuple(packet.basin), "resultant": 1.0, "provenance": prov})
    seen = dict(state.sync.seen)
    seen[packet.producer_id] = SyncMark(packet_id=pid, n=packet.n, created_at=packet.created_at)
    sync = SyncInfo(heads=(pid,), head_state=adopted.id, seen=dict(sorted(seen.items())))
    return adopted.model_copy(update={"sync": sync})


def _weighted(state: Basin, n: int, parts: Sequence[tuple[float, float, float]], timestamp: str) -> dict[str, object]:
    """Provenance update for a merge: Φ and κ as support-weighted means of state and parts (w, Φ, κ)."""
    total = state.n + sum(w for w, _, _ in parts)
    phi = (state.n * state.provenance.phi + sum(w * f for w, f, _ in parts)) / total
    kappa = (state.n * state.provenance.kappa + sum(w * k for w, _, k in parts)) / total
    regime = classify_regime(phi, state.provenance.regime if state.n else None)
    return {"n": n, "phi": phi, "kappa": kappa, "regime": regime, "timestamp": timestamp}


def merge_packet(
    state: Basin,
    packet: BasinSyncPacket,
    mode: MergeMode,
    *,
    trust: TrustStore,
    max_drift: float = DEFAULT_MAX_DRIFT,
) -> tuple[Basin, BasinPacketRejected | None]:
    """Verify ``packet`` and merge it into ``state`` (see the module docstring for the rules)."""
    if mode not in MERGE_MODES:
        raise ValueError(f"unknown merge mode {mode!r}; use one of {', '.join(MERGE_MODES)}")
    pid, reason, replay = _admission(state, packet, mode, trust, max_drift)
    if replay:
        return state, None
    if reason is not None:
        return state, _reject(packet, pid, reason)
    if mode == "full":
        return _replace(state, pid, packet), None
    sync = _sync_after(state, [(pid, packet)])
    if mode == "observer":
        step = observer_step(packet.phi, packet.kappa, state.provenance.kappa)
        point = geometry.slerp(state.point, packet.basin, step)
        moved = state.moved_to(point, timestamp=packet.created_at)
        return moved.model_copy(update={"sync": sync}), None
    if _can_fast_forward(state, packet):
        return _replace(state, pid, packet), None  # the packet was built on exactly this state
    w = _new_support(state, packet)
    if w == 0:
        return state.model_copy(update={"sync": sync}), None
    point = geometry.slerp(state.point, packet.basin, w / (state.n + w))
    prov = _weighted(state, state.n + w, [(w, packet.phi, packet.kappa)], packet.created_at)
    merged = state.moved_to(point, **prov)
    return merged.model_copy(update={"sync": sync}), None


def _rank(pid: str, packet: BasinSyncPacket) -> tuple[datetime, int, str]:
    return (parse_timestamp(packet.created_at), packet.n, pid)


def coordinate(
    state: Basin,
    packets: Iterable[BasinSyncPacket],
    *,
    trust: TrustStore,
    max_drift: float = DEFAULT_MAX_DRIFT,
) -> tuple[Basin, list[BasinPacketRejected]]:
    """Partial-merge a batch, independent of the order the packets arrived in."""
    by_id = {packet_id(p): p for p in packets}
    rejections: list[BasinPacketRejected] = []
    admitted: dict[str, tuple[str, BasinSyncPacket]] = {}  # newest packet per producer
    for pid in sorted(by_id):
        packet = by_id[pid]
        _, reason, replay = _admission(state, packet, "partial", trust, max_drift)
        if replay:
            continue
        if reason is not None:
            rejections.append(_reject(packet, pid, reason))
            continue
        held = admitted.get(packet.producer_id)
        if held is None:
            admitted[packet.producer_id] = (pid, packet)
            continue
        newer, older = ((pid, packet), held) if _rank(pid, packet) > _rank(*held) else (held, (pid, packet))
        admitted[packet.producer_id] = newer
        rejections.append(_reject(older[1], older[0], f"{STALE}: superseded in the same batch by packet "
                                                      f"{newer[0][:16]} from {packet.producer_id}"))
    chosen = sorted(admitted.values())
    if len(chosen) == 1:
        merged, rejection = merge_packet(state, chosen[0][1], "partial", trust=trust, max_drift=max_drift)
        return merged, sorted(rejections + ([rejection] if rejection else []), key=lambda r: r.packet_id)
    rejections.sort(key=lambda r: r.packet_id)
    if not chosen:
        return state, rejections
    parts = [(float(_new_support(state, p)), p) for _, p in chosen]
    fresh = [(w, p) for w, p in parts if w > 0]
    sync = _sync_after(state, chosen)
    if not fresh:
        return state.model_copy(update={"sync": sync}), rejections
    points = ([state.point] if state.n else []) + [p.basin for _, p in fresh]
    weights = ([float(state.n)] if state.n else []) + [w for w, _ in fresh]
    point = geometry.karcher_mean(points, weights)
    added = int(sum(w for w, _ in fresh))
    latest = max((p.created_at for _, p in fresh), key=parse_timestamp)
    prov = _weighted(state, state.n + added, [(w, p.phi, p.kappa) for w, p in fresh], latest)
    return state.moved_to(point, **prov).model_copy(update={"sync": sync}), rejections


def export_packet(
    state: Basin, *, signer: Signer, producer_id: str, created_at: str
) -> tuple[BasinSyncPacket, Basin]:
    """Sign a snapshot of ``state``; the returned state records it (head = this packet)."""
    packet = make_packet(state, signer=signer, producer_id=producer_id, created_at=created_at)
    pid = packet_id(packet)
    seen = dict(state.sync.seen)
    seen[producer_id] = SyncMark(packet_id=pid, n=packet.n, created_at=created_at)
    sync = SyncInfo(heads=(pid,), head_state=state.id, seen=dict(sorted(seen.items())))
    return packet, state.model_copy(update={"sync": sync})
