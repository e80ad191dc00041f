"""Keyed authentication of events (flag ``QKD_ON``): HMAC-SHA256 tags with per-EID keys.

Contract
--------
* **Master secret.** Configured by exactly one of two environment variables:

  - ``BEAMLINE_QKD_SECRET_FILE`` — path of a file holding the encoded secret;
  - ``BEAMLINE_QKD_SECRET`` — the encoded secret itself.

  Encoding (both sources): an optional explicit prefix ``hex:`` or ``base64:``; without a
  prefix the text is read as **hex** when it consists only of hex digits (even length),
  otherwise as **standard or URL-safe base64** (padding optional). Surrounding whitespace
  is ignored. The decoded secret must be at least ``MIN_SECRET_BYTES`` (32) bytes; generate
  one with ``python -c "import secrets; print(secrets.token_hex(32))"``. Setting both
  variables, an unreadable file, a bad encoding or a short secret is a ``QKDConfigError``,
  as is ``QKD_ON`` without any secret (see ``authenticator_from_env``). The secret is held
  in a ``MasterSecret`` whose ``repr`` never shows the bytes, and it is never written into
  an event, a log line or the store — the envelope carries only the tag.

* **Per-EID keys.** ``HKDF-SHA256(master, salt=HKDF_SALT, length=32, info)`` with
  ``info = b"beamline-eid:" + eid`` for events that carry an ``eid``. Events without an
  eid (``SheetSubmitted``, ``FlagChanged``, a run's ``StageError`` …) are keyed to their run:
  ``info = b"beamline-run:" + sheet_run_id`` — a separate prefix so a run key can never
  equal an EID key even if the two strings coincide. A key compromised for one EID reveals
  nothing about the master or other EIDs' keys.

* **Tag.** ``auth = "hmac-sha256:" + hex(HMAC-SHA256(key, canonical_json(env - auth)))``
  where ``env`` is ``envelope.model_dump(mode="json")`` and ``canonical_json`` is the
  registry's sorted-key compact JSON. Every envelope field — ids, eid, producer, flags
  digest, payload — is covered; changing any of them invalidates the tag.

* **Verification.** ``verify`` raises ``Unauthenticated`` (``reason = "auth"``,
  the DeadLetter reason) for a missing tag, a malformed tag, or a tag that does not match
  (wrong key or tampered field); comparison is constant time (``hmac.compare_digest``).
  Verify *before* upcasting: an old stored event upcast to a newer schema no longer has
  the bytes it was signed over, so ``verify_data`` accepts the raw decoded JSON object.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contracts.envelope import Envelope
from contracts.registry import ContractError, canonical_json

# Names of environment variables, not secrets (S105 matches on the word "SECRET").
SECRET_FILE_ENV = "BEAMLINE_QKD_SECRET_FILE"  # noqa: S105
SECRET_ENV = "BEAMLINE_QKD_SECRET"  # noqa: S105
MIN_SECRET_BYTES = 32
TAG_PREFIX = "hmac-sha256:"
# A fixed, versioned salt: rotating the derivation scheme means changing it, never the master.
HKDF_SALT = b"beamline-qkd/v1"
EID_INFO_PREFIX = b"beamline-eid:"
RUN_INFO_PREFIX = b"beamline-run:"
DERIVED_KEY_BYTES = 32
DEFAULT_KEY_CACHE_SIZE = 4096

_HEX_TEXT = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_TAG_TEXT = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")


class Unauthenticated(ContractError):
    """An event whose auth tag is missing, malformed or wrong: dead-lettered, not processed."""

    reason = "auth"


class QKDConfigError(RuntimeError):
    """QKD is misconfigured (no secret while QKD_ON, both sources set, bad encoding, too short)."""


class MasterSecret:
    """The master secret's bytes, kept out of ``repr``/``str`` so a log line cannot leak it."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if len(value) < MIN_SECRET_BYTES:
            raise QKDConfigError(
                f"QKD master secret is {len(value)} bytes; at least {MIN_SECRET_BYTES} are required"
            )
        self._value = bytes(value)

    @property
    def value(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "MasterSecret(<redacted>)"

    __str__ = __repr__


def parse_secret(text: str) -> MasterSecret:
    """Decode a secret written as ``hex:…``, ``base64:…``, bare hex, or bare base64."""
    body = text.strip()
    if body.startswith("hex:"):
        return MasterSecret(_from_hex(body[4:].strip()))
    if body.startswith("base64:"):
        return MasterSecret(_from_base64(body[7:].strip()))
    if _HEX_TEXT.match(body):
        return MasterSecret(_from_hex(body))
    return MasterSecret(_from_base64(body))


def _from_hex(body: str) -> bytes:
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise QKDConfigError("QKD secret is not valid hex") from None


def _from_base64(body: str) -> bytes:
    padded = body + "=" * (-len(body) % 4)
    alphabet_fix = padded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(alphabet_fix, validate=True)
    except (binascii.Error, ValueError):
        raise QKDConfigError("QKD secret is neither hex nor base64") from None


def load_secret(environ: Mapping[str, str] | None = None) -> MasterSecret | None:
    """The configured master secret, or None when neither variable is set.

    Raises ``QKDConfigError`` when both are set, the file cannot be read, or the value
    does not decode to a long enough secret. Error messages name the variable or path,
    never the secret.
    """
    env = os.environ if environ is None else environ
    path_text = env.get(SECRET_FILE_ENV, "").strip()
    inline = env.get(SECRET_ENV, "").strip()
    if path_text and inline:
        raise QKDConfigError(f"set only one of {SECRET_FILE_ENV} and {SECRET_ENV}")
    if path_text:
        try:
            text = Path(path_text).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise QKDConfigError(f"cannot read QKD secret file {path_text!r} ({SECRET_FILE_ENV}): {exc}") from None
        return _parse_named(text, f"file {path_text!r}")
    if inline:
        return _parse_named(inline, SECRET_ENV)
    return None


def _parse_named(text: str, source: str) -> MasterSecret:
    try:
        return parse_secret(text)
    except QKDConfigError as exc:
        raise QKDConfigError(f"{exc} (from {source})") from None


def key_info(envelope: Envelope | Mapping[str, Any]) -> bytes:
    """HKDF ``info`` for an event: its EID, or its sheet run when it has no EID."""
    eid, run_id = _scope_of(envelope)
    if eid:
        return EID_INFO_PREFIX + eid.encode("utf-8")
    return RUN_INFO_PREFIX + run_id.encode("utf-8")


def _scope_of(envelope: Envelope | Mapping[str, Any]) -> tuple[str | None, str]:
    if isinstance(envelope, Envelope):
        return envelope.eid, envelope.sheet_run_id
    eid = envelope.get("eid")
    run_id = envelope.get("sheet_run_id")
    return (eid if isinstance(eid, str) else None), (run_id if isinstance(run_id, str) else "")


def derive_key(secret: MasterSecret | bytes, info: bytes) -> bytes:
    """HKDF-SHA256 of the master secret for one scope (see ``key_info``)."""
    master = secret.value if isinstance(secret, MasterSecret) else MasterSecret(secret).value
    hkdf = HKDF(algorithm=hashes.SHA256(), length=DERIVED_KEY_BYTES, salt=HKDF_SALT, info=info)
    return hkdf.derive(master)


def signed_bytes(data: Mapping[str, Any]) -> bytes:
    """The exact bytes a tag covers: canonical JSON of the envelope's JSON form minus ``auth``."""
    return canonical_json({name: value for name, value in data.items() if name != "auth"})


def tag_for(key: bytes, data: Mapping[str, Any]) -> str:
    return TAG_PREFIX + hmac.new(key, signed_bytes(data), hashlib.sha256).hexdigest()


def check_tag(key: bytes, data: Mapping[str, Any]) -> None:
    """Raise ``Unauthenticated`` unless ``data['auth']`` is the right tag for ``data``."""
    event_id = data.get("event_id", "?")
    presented = data.get("auth")
    if presented is None or presented == "":
        raise Unauthenticated(f"event {event_id}: no auth tag (QKD_ON requires signed events)")
    if not isinstance(presented, str) or not _TAG_TEXT.match(presented):
        raise Unauthenticated(f"event {event_id}: malformed auth tag")
    expected = tag_for(key, data)
    if not hmac.compare_digest(presented.encode("ascii"), expected.encode("ascii")):
        raise Unauthenticated(f"event {event_id}: auth tag does not match (tampered or wrong key)")


def sign(envelope: Envelope, secret: MasterSecret | bytes) -> Envelope:
    """A copy of ``envelope`` with ``auth`` set; any existing tag is replaced."""
    data = envelope.model_dump(mode="json")
    return envelope.model_copy(update={"auth": tag_for(derive_key(secret, key_info(data)), data)})


def verify(envelope: Envelope, secret: MasterSecret | bytes) -> None:
    """Return None if the tag is right, else raise ``Unauthenticated``."""
    data = envelope.model_dump(mode="json")
    check_tag(derive_key(secret, key_info(data)), data)


class Authenticator:
    """Signs and verifies envelopes with one master secret, caching derived keys per scope.

    The cache is a bounded LRU (``cache_size`` scopes) so a long-running worker seeing
    unbounded EIDs keeps constant memory. Safe to share across threads.
    """

    def __init__(self, secret: MasterSecret | bytes, cache_size: int = DEFAULT_KEY_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._secret = secret if isinstance(secret, MasterSecret) else MasterSecret(secret)
        self._cache_size = cache_size
        self._keys: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Authenticator:
        """An authenticator from the environment; ``QKDConfigError`` if no secret is set."""
        secret = load_secret(environ)
        if secret is None:
            raise QKDConfigError(
                f"QKD_ON is set but no secret is configured: set {SECRET_FILE_ENV} (path to a file "
                f"holding a hex or base64 secret of at least {MIN_SECRET_BYTES} bytes) or {SECRET_ENV}"
            )
        return cls(secret)

    def __repr__(self) -> str:
        return f"Authenticator(secret=<redacted>, cached_keys={len(self._keys)})"

    @property
    def cached_keys(self) -> int:
        return len(self._keys)

    def key_for(self, envelope: Envelope | Mapping[str, Any]) -> bytes:
        info = key_info(envelope)
        with self._lock:
            key = self._keys.get(info)
            if key is not None:
                self._keys.move_to_end(info)
                return key
        key = derive_key(self._secret, info)
        with self._lock:
            self._keys[info] = key
            self._keys.move_to_end(info)
            while len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        return key

    def sign(self, envelope: Envelope) -> Envelope:
        data = envelope.model_dump(mode="json")
        return envelope.model_copy(update={"auth": tag_for(self.key_for(data), data)})

    def verify(self, envelope: Envelope) -> None:
        data = envelope.model_dump(mode="json")
        check_tag(self.key_for(data), data)

    def verify_data(self, data: Mapping[str, Any]) -> None:
        """Verify a raw decoded message (the JSON object as received, before upcasting)."""
        check_tag(self.key_for(data), data)


def authenticator_from_env(qkd_on: bool, environ: Mapping[str, str] | None = None) -> Authenticator | None:
    """None when QKD is off; else an ``Authenticator``, or ``QKDConfigError`` if no secret is set."""
    if not qkd_on:
        return None
    return Authenticator.from_env(environ)
