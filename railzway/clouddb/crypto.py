"""Tenant database passwords encrypted at rest: AES-256-GCM with keys from `RAILZWAY_CREDENTIALS_KEYS`.

The variable holds comma-separated base64 32-byte keys. The first encrypts; every one decrypts, so a key
is rotated by putting a new one first, running `railzway rekey`, then dropping the old one. Each stored
value records which key wrote it (the key id, a one-way fingerprint of the key that reveals nothing of it).

The org id is the associated data: a ciphertext copied into another org's row fails to decrypt instead of
handing one tenant's password to another. A fresh random nonce per write means the same password never
encrypts to the same text, so "has the password changed?" is answered by a keyed hash of the org id and
password (the fingerprint: BLAKE2b in its keyed MAC mode, RFC 7693, under a key derived from the encryption
key with HKDF), never by keeping or comparing the password itself. BLAKE2b rather than HMAC-SHA256 only
because it is one C call per row, which a sync of 10,000 tenants notices.

Nothing here prints, logs or puts a key or a password into an exception message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEYS_ENV = "RAILZWAY_CREDENTIALS_KEYS"
KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID_LABEL = b"railzway-cloud credentials key id v1\x00"
_FINGERPRINT_INFO = b"railzway-cloud db_password fingerprint v1"
_FINGERPRINT_PERSON = b"railzway-fp-v1"


class CredentialsKeyError(ValueError):
    """`RAILZWAY_CREDENTIALS_KEYS` is missing or malformed (the message never contains a key)."""


class DecryptionError(ValueError):
    """A stored password does not decrypt: wrong org, unknown key, or altered text."""


def generate_key() -> str:
    """A new key in the form `RAILZWAY_CREDENTIALS_KEYS` takes (as `openssl rand -base64 32` prints)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id_of(key: bytes) -> str:
    """A short stable name for a key: the first 16 hex digits of a labelled SHA-256 of it."""
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:16]


class Sealed(NamedTuple):
    """What the `instances` row stores for one password (a tuple: a sync builds 10,000 of them)."""

    ciphertext: str
    key_id: str
    fingerprint: str


@dataclass(frozen=True)
class Key:
    """One AES-256 key, its id, and the MAC key derived from it for fingerprints."""

    key_id: str
    _aead: AESGCM = field(repr=False, compare=False)
    _mac_key: bytes = field(repr=False, compare=False)

    @classmethod
    def from_bytes(cls, key: bytes) -> Key:
        mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_INFO).derive(key)
        return cls(key_id_of(key), AESGCM(key), mac_key)

    def encrypt(self, org_id: int, password: str) -> str:
        return self.seal(org_id, password).ciphertext

    def decrypt(self, org_id: int, ciphertext: str) -> str:
        try:
            raw = base64.b64decode(ciphertext, validate=True)
            if len(raw) < NONCE_BYTES + _TAG_BYTES:
                raise ValueError("too short")
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(org_id))
            return plain.decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionError(
                f"org {org_id}: the stored password does not decrypt with key {self.key_id}: it was written for "
                "another org (copied between rows) or altered"
            ) from None

    def fingerprint(self, org_id: int, password: str) -> str:
        return _fingerprint(self._mac_key, _associated_data(org_id), password.encode())

    def seal(self, org_id: int, password: str) -> Sealed:
        return self.seal_many([(org_id, password)])[0]

    def seal_many(self, items: Sequence[tuple[int, str]]) -> list[Sealed]:
        """Seal (org id, password) pairs: a sync seals thousands, so the nonces come from one urandom call
        (each 12-byte slice is used once) and the loop does nothing twice."""
        nonces = os.urandom(NONCE_BYTES * len(items))
        encrypt, mac_key, b64, key_id = self._aead.encrypt, self._mac_key, base64.b64encode, self.key_id
        sealed: list[Sealed] = []
        for i, (org_id, password) in enumerate(items):
            associated, plain = _associated_data(org_id), password.encode()
            nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
            ciphertext = b64(nonce + encrypt(nonce, plain, associated)).decode()
            sealed.append(Sealed(ciphertext, key_id, _fingerprint(mac_key, associated, plain)))
        return sealed


class KeyRing:
    """The configured keys: `primary` encrypts, any of them decrypts by key id."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise CredentialsKeyError(f"{KEYS_ENV} holds no key")
        self._keys = [Key.from_bytes(k) for k in keys]
        self._by_id = {k.key_id: k for k in self._keys}

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.ids})"

    @property
    def primary(self) -> Key:
        return self._keys[0]

    @property
    def ids(self) -> list[str]:
        return [k.key_id for k in self._keys]

    def get(self, key_id: str | None) -> Key | None:
        return None if key_id is None else self._by_id.get(key_id)

    def seal(self, org_id: int, password: str) -> Sealed:
        """Encrypt with the primary key."""
        return self.primary.seal(org_id, password)

    def seal_many(self, items: Sequence[tuple[int, str]]) -> list[Sealed]:
        """Encrypt many with the primary key."""
        return self.primary.seal_many(items)

    def decrypt(self, org_id: int, key_id: str, ciphertext: str) -> str:
        key = self.get(key_id)
        if key is None:
            raise DecryptionError(
                f"org {org_id}: the stored password was encrypted with key {key_id}, which is not in {KEYS_ENV} "
                f"(configured: {', '.join(self.ids)})"
            )
        return key.decrypt(org_id, ciphertext)

    def matches(self, org_id: int, password: str, key_id: str | None, fingerprint: str | None) -> bool:
        """Whether a row sealed under `key_id` with `fingerprint` holds `password` (no decryption needed)."""
        key = self.get(key_id)
        if key is None or fingerprint is None:
            return False
        return hmac.compare_digest(key.fingerprint(org_id, password), fingerprint)


def parse_keys(value: str, source: str = KEYS_ENV) -> KeyRing:
    """Parse the comma-separated base64 keys; errors name the key by position, never by value."""
    parts = [p.strip() for p in value.split(",")]
    if not any(parts):
        raise CredentialsKeyError(
            f"{source} is empty: set it to one or more base64 32-byte keys (openssl rand -base64 32)"
        )
    keys: list[bytes] = []
    for position, part in enumerate(parts, start=1):
        if not part:
            raise CredentialsKeyError(f"{source}: key #{position} is empty (a stray comma?)")
        try:
            key = base64.b64decode(part.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise CredentialsKeyError(f"{source}: key #{position} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise CredentialsKeyError(
                f"{source}: key #{position} is {len(key)} bytes; AES-256 needs {KEY_BYTES} (openssl rand -base64 32)"
            )
        if key in keys:
            raise CredentialsKeyError(f"{source}: key #{position} repeats key #{keys.index(key) + 1}")
        keys.append(key)
    return KeyRing(keys)


def load_keys(environ: Mapping[str, str] = os.environ) -> KeyRing:
    """The key ring from `RAILZWAY_CREDENTIALS_KEYS`."""
    value = environ.get(KEYS_ENV)
    if value is None:
        raise CredentialsKeyError(
            f"{KEYS_ENV} is not set: the comma-separated base64 AES-256 keys that encrypt tenant passwords "
            "(the first encrypts, all decrypt; make one with `openssl rand -base64 32`)"
        )
    return parse_keys(value)


def _fingerprint(mac_key: bytes, associated: bytes, plain: bytes) -> str:
    return hashlib.blake2b(
        associated + b"\x00" + plain, key=mac_key, digest_size=32, person=_FINGERPRINT_PERSON
    ).hexdigest()


def _associated_data(org_id: int) -> bytes:
    return b"railzway-cloud instances.db_password org " + str(org_id).encode()
