"""Basin sync packets: content address, Ed25519 signature, canonical bytes, verification.

A packet is ``contracts.payloads.BasinSyncPacket``. Its *body* is every field but
``signature``; its id is SHA-256 (hex) of the canonical JSON of the body
(``contracts.registry.canonical_json``: sorted keys, no whitespace), and the
signature is Ed25519 over those same bytes — so a valid signature also vouches
for the id. ``parent`` names the packet (or Merkle merge node) the producer's
basin descended from, chaining packets into a Merkle DAG.

On the wire and on disk a packet is the canonical JSON of all its fields;
``decode_packet`` refuses anything that is not byte-for-byte canonical, so two
encodings of one packet cannot exist (a flipped byte that happens to parse to
the same values, e.g. ``e`` → ``E`` in an exponent, is still refused).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from basin import geometry
from basin.container import Basin
from basin.keys import Signer, TrustStore
from contracts.payloads import BasinSyncPacket
from contracts.registry import canonical_json

PACKET_VERSION = 1
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{128}")

# Rejection codes; a BasinPacketRejected.reason is "<code>: <detail>".
MALFORMED = "malformed"
NON_CANONICAL = "non_canonical"
INVALID_PACKET = "invalid_packet"
UNSUPPORTED_VERSION = "unsupported_version"
UNTRUSTED_KEY = "untrusted_key"
BAD_SIGNATURE = "bad_signature"
INVALID_BASIN = "invalid_basin"


class PacketError(ValueError):
    """Bytes that are not a packet. ``reason`` is ``"<code>: <detail>"``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.reason = f"{code}: {detail}"


def format_timestamp(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: the one spelling packets use (orderable as text and as time)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp has no timezone")
    return moment


def packet_body(packet: BasinSyncPacket) -> dict[str, Any]:
    body = packet.model_dump(mode="json")
    body.pop("signature")
    return body


def signing_bytes(packet: BasinSyncPacket) -> bytes:
    """What is hashed for the id and signed: the canonical JSON of the body."""
    return canonical_json(packet_body(packet))


def packet_id(packet: BasinSyncPacket) -> str:
    return hashlib.sha256(signing_bytes(packet)).hexdigest()


def merge_node(parent_ids: Sequence[str]) -> str:
    """The Merkle node of several parents: SHA-256 of the canonical JSON of their sorted ids."""
    return hashlib.sha256(canonical_json(sorted(set(parent_ids)))).hexdigest()


def parent_of(basin: Basin) -> str | None:
    """The ``parent`` a packet exported from ``basin`` carries (its single head, or their merge node)."""
    heads = basin.sync.heads
    if not heads:
        return None
    return heads[0] if len(heads) == 1 else merge_node(heads)


def make_packet(basin: Basin, *, signer: Signer, producer_id: str, created_at: str) -> BasinSyncPacket:
    """A signed snapshot of ``basin`` (its point, n, Φ, κ, regime; parent from its Merkle heads)."""
    parse_timestamp(created_at)
    unsigned = BasinSyncPacket(
        version=PACKET_VERSION,
        container_id=basin.container_id,
        basin=list(basin.point),
        phi=basin.provenance.phi,
        kappa=basin.provenance.kappa,
        regime=basin.provenance.regime,
        n=basin.n,
        parent=parent_of(basin),
        producer_id=producer_id,
        created_at=created_at,
        key_id=signer.key_id,
        signature="",
    )
    return unsigned.model_copy(update={"signature": signer.sign(signing_bytes(unsigned))})


def verify_packet(packet: BasinSyncPacket, trust: TrustStore) -> str | None:
    """None when the packet is authentic and well-formed, else the rejection reason.

    Checks, in order: version, timestamp, trusted key, signature over the canonical
    body, and that ``basin`` is a point of the 64-simplex with finite Φ and κ.
    """
    if packet.version != PACKET_VERSION:
        return f"{UNSUPPORTED_VERSION}: packet version {packet.version}, this build reads {PACKET_VERSION}"
    try:
        parse_timestamp(packet.created_at)
    except ValueError:
        return f"{INVALID_PACKET}: created_at {packet.created_at!r} is not an ISO-8601 time with zone"
    if packet.key_id not in trust:
        return f"{UNTRUSTED_KEY}: key {packet.key_id} is not in the trust store"
    if not _SIGNATURE_HEX.fullmatch(packet.signature):
        # One spelling only: bytes.fromhex would also accept upper case, letting a
        # packet change (and its bytes differ) while its signature still verified.
        return f"{BAD_SIGNATURE}: signature is not 128 lower-case hex digits"
    if not trust.verify(packet.key_id, packet.signature, signing_bytes(packet)):
        return f"{BAD_SIGNATURE}: Ed25519 signature does not verify for key {packet.key_id}"
    try:
        geometry.as_simplex(packet.basin)
    except ValueError as exc:
        return f"{INVALID_BASIN}: {exc}"
    if not (math.isfinite(packet.phi) and math.isfinite(packet.kappa)) or packet.kappa < 0:
        return f"{INVALID_BASIN}: phi and kappa must be finite, kappa ≥ 0"
    return None


def encode_packet(packet: BasinSyncPacket) -> bytes:
    """Canonical JSON of the whole packet (signature included): the file and wire form."""
    return canonical_json(packet.model_dump(mode="json"))


def decode_packet(raw: bytes) -> BasinSyncPacket:
    """Parse canonical packet bytes; raise ``PacketError`` (malformed / invalid_packet / non_canonical)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PacketError(MALFORMED, f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PacketError(MALFORMED, "packet is not a JSON object")
    try:
        packet = BasinSyncPacket.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PacketError(INVALID_PACKET, f"{where}: {first['msg']}") from None
    if encode_packet(packet) != raw:
        raise PacketError(NON_CANONICAL, "bytes are not the canonical encoding of their content")
    return packet


def packet_summary(packet: BasinSyncPacket) -> dict[str, Any]:
    """Human-facing fields (no basin coordinates, no signature)."""
    return {
        "id": packet_id(packet), "container_id": packet.container_id, "producer_id": packet.producer_id,
        "n": packet.n, "phi": packet.phi, "kappa": packet.kappa, "regime": packet.regime,
        "parent": packet.parent, "created_at": packet.created_at, "key_id": packet.key_id,
    }
