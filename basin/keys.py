"""Ed25519 keys for basin packets: a key directory, signers, and the trusted-key registry.

Layout of a key directory (default ``$BEAMLINE_KEY_DIR`` or ``~/.config/beamline/keys``):
``<name>.key`` — PKCS#8 PEM private key, mode 0600, never printed or logged;
``<name>.pub`` — SubjectPublicKeyInfo PEM public key, safe to copy to receivers.
A receiver trusts exactly the ``*.pub`` files in its trust directory.

``key_id`` = first 16 hex of SHA-256 of the raw 32-byte public key. Private keys
are refused inside a git work tree so they cannot be committed by accident.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_DIR_ENV = "BEAMLINE_KEY_DIR"


class KeyStoreError(ValueError):
    """A key that cannot be created or read (message never contains key material)."""


def default_key_dir() -> Path:
    env = os.environ.get(KEY_DIR_ENV)
    return Path(env) if env else Path.home() / ".config" / "beamline" / "keys"


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _inside_git_worktree(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in [path, *path.parents])


def _check_name(name: str) -> None:
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or name.startswith("."):
        raise KeyStoreError(f"invalid key name {name!r} (letters, digits, - _ . only)")


@dataclass(frozen=True)
class Signer:
    """A private key with its id. ``repr`` shows the id only."""

    key_id: str
    _private: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> Signer:
        """An in-memory key (tests, ephemeral workers)."""
        private = Ed25519PrivateKey.generate()
        return cls(key_id_of(private.public_key()), private)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private.public_key()

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()


class TrustStore(Mapping[str, Ed25519PublicKey]):
    """key_id → public key of every producer whose packets are accepted."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = dict(keys or {})

    @classmethod
    def of(cls, *public_keys: Ed25519PublicKey) -> TrustStore:
        return cls({key_id_of(k): k for k in public_keys})

    @classmethod
    def from_directory(cls, directory: str | Path) -> TrustStore:
        """Trust every ``*.pub`` in ``directory`` (a missing directory trusts nobody)."""
        root = Path(directory)
        keys: dict[str, Ed25519PublicKey] = {}
        if root.is_dir():
            for pub in sorted(root.glob("*.pub")):
                key = _load_public(pub)
                keys[key_id_of(key)] = key
        return cls(keys)

    def add(self, public_key: Ed25519PublicKey) -> str:
        kid = key_id_of(public_key)
        self._keys[kid] = public_key
        return kid

    def verify(self, key_id: str, signature_hex: str, message: bytes) -> bool:
        """True only for a trusted key and a valid signature over ``message``."""
        key = self._keys.get(key_id)
        if key is None:
            return False
        try:
            key.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError):
        raise KeyStoreError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyStoreError(f"{path} is not an Ed25519 public key")
    return key


class KeyStore:
    """A directory of named Ed25519 key pairs."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_key_dir()

    def _paths(self, name: str) -> tuple[Path, Path]:
        _check_name(name)
        return self.directory / f"{name}.key", self.directory / f"{name}.pub"

    def generate(self, name: str, *, allow_in_git: bool = False) -> str:
        """Create ``name``'s key pair (never overwrites); returns its key id."""
        private_path, public_path = self._paths(name)
        if not allow_in_git and _inside_git_worktree(self.directory.resolve()):
            raise KeyStoreError(f"refusing to write a private key inside a git work tree: {self.directory}")
        if private_path.exists() or public_path.exists():
            raise KeyStoreError(f"key {name!r} already exists in {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        public_path.write_bytes(
            private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return key_id_of(private.public_key())

    def signer(self, name: str) -> Signer:
        private_path, _ = self._paths(name)
        try:
            key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        except FileNotFoundError:
            raise KeyStoreError(f"no key {name!r} in {self.directory}") from None
        except (ValueError, TypeError):
            raise KeyStoreError(f"{private_path} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyStoreError(f"{private_path} is not an Ed25519 key")
        return Signer(key_id_of(key.public_key()), key)

    def public_key(self, name: str) -> Ed25519PublicKey:
        return _load_public(self._paths(name)[1])

    def trust(self) -> TrustStore:
        """Trust every public key in this directory."""
        return TrustStore.from_directory(self.directory)
