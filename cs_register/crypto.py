"""Field encryption (AES-256-GCM), keyed blind indexes, and the keys of sealed recordings.

Design (see docs/security.md):
- Master keys are versioned. Version 1 is the pair `DATA_ENCRYPTION_KEY` / `BLIND_INDEX_KEY`;
  every later version is one random 32-byte secret from which its encryption and index master
  keys are derived (HKDF, distinct labels). New data is always written under the highest
  version; older versions stay readable until a rotation has moved everything off them.
- Each purpose gets its own subkey, derived with HKDF from the version's master keys, so the
  ciphertext of one field can never be decrypted as another.
- Field ciphertexts start with one byte naming the key version (version 1 ciphertexts, written
  before versions existed, already began with the byte 1), then a random 96-bit nonce, and are
  bound to their row and field through the associated data: copying a ciphertext into another
  customer's row makes it fail authentication instead of silently showing the wrong code.
- The blind index is an HMAC truncated to `BLIND_INDEX_BITS`. Truncation is deliberate: with
  roughly 10^8 possible identity codes, a full-length index lets anyone holding the index key
  (but not the encryption key) enumerate codes one to one; a 16-bit bucket instead maps to many
  codes and many customers, and lookups decrypt the few candidates to compare exactly. Each key
  version has its own index key, so a lookup asks for the buckets of every version.
- Recordings are sealed with a random data key each (`recordings.sealing`); `AudioKeys` wraps
  that data key under a master key version, and `SegmentCipher` seals the audio's segments.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The first key version; its field ciphertexts began with this byte before versions existed.
CIPHERTEXT_VERSION = 1
MAX_KEY_VERSION = 255  # a field ciphertext's version is one byte
NONCE_BYTES = 12
TAG_BYTES = 16
DATA_KEY_BYTES = 32
BLIND_INDEX_BITS = 16


class DecryptionError(Exception):
    """A ciphertext failed authentication: wrong key, wrong row, or tampering."""


class UnknownKeyVersion(DecryptionError):
    """The data was written under a key version this deployment does not hold."""


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def master_keys(
    *, encryption_key: bytes, index_key: bytes, later_versions: Mapping[int, bytes] | None = None
) -> dict[int, tuple[bytes, bytes]]:
    """Every version's (encryption master, index master): version 1 from the two configured
    keys, each later version derived from its one secret."""
    versions = {CIPHERTEXT_VERSION: (encryption_key, index_key)}
    for version, secret in (later_versions or {}).items():
        if not CIPHERTEXT_VERSION < version <= MAX_KEY_VERSION:
            raise ValueError(f"key versions run from 2 to {MAX_KEY_VERSION}")
        versions[version] = (
            _derive(secret, b"cs-register|master|enc"),
            _derive(secret, b"cs-register|master|bidx"),
        )
    return versions


class FieldCipher:
    """Encrypts and indexes one kind of personal data field, under every key version."""

    def __init__(self, masters: Mapping[int, tuple[bytes, bytes]], *, purpose: str) -> None:
        self.purpose = purpose.encode("ascii")
        self.current_version = max(masters)
        self._aead = {
            version: AESGCM(_derive(enc, b"cs-register|enc|" + self.purpose))
            for version, (enc, _) in masters.items()
        }
        self._index_keys = {
            version: _derive(idx, b"cs-register|bidx|" + self.purpose)
            for version, (_, idx) in masters.items()
        }

    def _aad(self, row_id: str) -> bytes:
        return self.purpose + b"|" + row_id.encode("ascii")

    def encrypt(self, plaintext: str, *, row_id: str) -> bytes:
        version = self.current_version
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[version].encrypt(nonce, plaintext.encode("utf-8"), self._aad(row_id))
        return bytes([version]) + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, row_id: str) -> str:
        if len(ciphertext) < 1 + NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("unrecognised ciphertext format")
        aead = self._aead.get(ciphertext[0])
        if aead is None:
            raise UnknownKeyVersion("ciphertext written under a key version not configured")
        nonce, sealed = ciphertext[1 : 1 + NONCE_BYTES], ciphertext[1 + NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, sealed, self._aad(row_id)).decode("utf-8")
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    @staticmethod
    def version_of(ciphertext: bytes) -> int:
        """The key version a ciphertext was written under (its first byte)."""
        return ciphertext[0]

    def blind_index(self, normalised: str, *, version: int | None = None) -> int:
        """The bucket of `normalised` under `version` (default: the current one)."""
        key = self._index_keys[self.current_version if version is None else version]
        digest = hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") >> (32 - BLIND_INDEX_BITS)

    def blind_indexes(self, normalised: str) -> dict[int, int]:
        """The bucket under every version: during a rotation rows sit under old and new."""
        return {version: self.blind_index(normalised, version=version) for version in self._aead}


class AudioKeys:
    """Wraps recordings' data keys under a master key version (AES-256-GCM key wrapping, the
    wrapped key bound to `context`: the object's key and header)."""

    def __init__(self, masters: Mapping[int, tuple[bytes, bytes]]) -> None:
        self.current_version = max(masters)
        self._wrapping = {
            version: AESGCM(_derive(enc, b"cs-register|recording-data-keys"))
            for version, (enc, _) in masters.items()
        }

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._wrapping))

    @staticmethod
    def new_data_key() -> bytes:
        return os.urandom(DATA_KEY_BYTES)

    def wrap(self, data_key: bytes, *, version: int, context: bytes) -> bytes:
        """nonce + sealed data key (12 + 32 + 16 bytes)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._wrapping[version].encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, *, version: int, context: bytes) -> bytes:
        aead = self._wrapping.get(version)
        if aead is None:
            raise UnknownKeyVersion("data key wrapped under a key version not configured")
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise DecryptionError("data key failed authentication") from None


WRAPPED_KEY_BYTES = NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES


class SegmentCipher:
    """AES-256-GCM over numbered segments under one object's data key.

    The data key is used for this object only, so the nonce can be the segment's position: its
    index and whether it is the last. A segment moved, repeated, dropped from the end or taken
    from another object fails authentication.
    """

    def __init__(self, data_key: bytes, *, context: bytes) -> None:
        self._aead = AESGCM(data_key)
        self._context = context

    @staticmethod
    def _nonce(index: int, last: bool) -> bytes:
        return index.to_bytes(8, "big") + (b"\x01" if last else b"\x00") + b"\x00\x00\x00"

    def seal(self, index: int, plaintext: bytes, *, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), plaintext, self._context)

    def open(self, index: int, sealed: bytes, *, last: bool) -> bytes:
        try:
            return self._aead.decrypt(self._nonce(index, last), sealed, self._context)
        except InvalidTag:
            raise DecryptionError("segment failed authentication") from None


class Keyring:
    """The ciphers of one deployment, built once from its settings."""

    def __init__(
        self,
        *,
        encryption_key: bytes,
        index_key: bytes,
        later_versions: Mapping[int, bytes] | None = None,
    ) -> None:
        masters = master_keys(
            encryption_key=encryption_key, index_key=index_key, later_versions=later_versions
        )
        self.versions = tuple(sorted(masters))
        self.current_version = max(masters)
        self.identity_code = FieldCipher(masters, purpose="customer.identity_code")
        # Rectification history keeps old and new values; they are personal data too.
        self.revision_value = FieldCipher(masters, purpose="customer_revision.value")
        # Shared secrets of signed webhooks (the chatbot platform): the server must be able to
        # recompute signatures, so they are encrypted rather than hashed.
        self.webhook_secret = FieldCipher(masters, purpose="webhook_secret.secret")
        # Staff members' authenticator secrets (two-step login): the server must compute the
        # expected codes, so they are encrypted rather than hashed.
        self.totp_secret = FieldCipher(masters, purpose="staff_user.totp_secret")
        # A console search kept in the staff member's session cookie while its results are
        # shown and paged (`cs_register.kept_searches`): what was searched for is personal
        # data, and a cookie is readable by whoever holds it.
        self.kept_search = FieldCipher(masters, purpose="web.kept_search")
        # The data keys of sealed recordings (`recordings.sealing`).
        self.audio = AudioKeys(masters)
