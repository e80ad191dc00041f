"""Bytes <-> envelopes on the way in and out of a runner, authenticated when ``QKD_ON``.

With QKD off this is ``contracts.registry.decode`` / the envelope as is. With QKD on,
every input's tag is verified on the JSON object as received — before upcasting,
which would change the bytes that were signed — and a missing or wrong tag is a
``ContractError`` with reason ``auth`` (a dead letter, never processed);
every output is signed. The master secret comes from the environment
(``contracts.auth``); QKD on without a secret is a ``QKDConfigError``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from contracts.envelope import Envelope
from contracts.registry import MAX_MESSAGE_BYTES, MalformedMessage, TooLarge, decode, decode_dict


def authenticator_for(flags: Mapping[str, Any]) -> Any:
    """The ``contracts.auth.Authenticator`` when flag QKD_ON is set, else None."""
    if not flags.get("QKD_ON"):
        return None
    from contracts.auth import authenticator_from_env

    return authenticator_from_env(True)


class DecodedMessages:
    """The envelopes of the last ``size`` messages decoded, by their bytes.

    Decoding is a pure function of the bytes (validation, upcasting), so a message
    that reaches several consumer groups in one process — on the memory bus every
    event goes to its stage and to the KG — is decoded once and the envelope shared
    (envelopes are frozen; stages never mutate an input). A bus whose messages are
    the same ``bytes`` object for every group (``MemoryBus.decoded``) holds one; the
    lookup hashes a bytes object once (Python caches it) and compares by identity.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._envelopes: OrderedDict[bytes, Envelope] = OrderedDict()

    def decode(self, raw: bytes) -> Envelope:
        envelopes = self._envelopes
        envelope = envelopes.get(raw)
        if envelope is None:
            envelope = decode(raw)
            envelopes[raw] = envelope
            if len(envelopes) > self.size:
                envelopes.popitem(last=False)
        return envelope


class EventCodec:
    """Decode (and verify) inputs, seal (sign) outputs. ``authenticator`` None = QKD off;
    ``decoded`` (optional) shares decoded envelopes between the consumers of one bus."""

    def __init__(self, authenticator: Any = None, decoded: DecodedMessages | None = None) -> None:
        self.authenticator = authenticator
        self.decoded = decoded

    def decode(self, raw: bytes) -> Envelope:
        if self.authenticator is None:
            return self.decoded.decode(raw) if self.decoded is not None else decode(raw)
        if len(raw) > MAX_MESSAGE_BYTES:
            raise TooLarge(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedMessage(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedMessage("message is not a JSON object")
        self.authenticator.verify_data(data)
        return decode_dict(data)

    def seal(self, envelope: Envelope) -> Envelope:
        if self.authenticator is None:
            return envelope
        signed: Envelope = self.authenticator.sign(envelope)
        return signed
