"""Field encryption (AES-256-GCM) and keyed blind indexes for identity codes.

Design (see docs/security.md):
- Each purpose gets its own subkey, derived with HKDF from the configured master keys, so the
  ciphertext of one field can never be decrypted as another.
- Ciphertexts carry a version byte and a random 96-bit nonce, and are bound to their row and
  field through the associated data: copying a ciphertext into another customer's row makes it
  fail authentication instead of silently showing the wrong person's code.
- The blind index is an HMAC truncated to `BLIND_INDEX_BITS`. Truncation is deliberate: with
  roughly 10^8 possible identity codes, a full-length index lets anyone holding the index key
  (but not the encryption key) enumerate codes one to one; a 16-bit bucket instead maps to many
  codes and many customers, and lookups decrypt the few candidates to compare exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CIPHERTEXT_VERSION = 1
NONCE_BYTES = 12
BLIND_INDEX_BITS = 16


class DecryptionError(Exception):
    """A ciphertext failed authentication: wrong key, wrong row, or tampering."""


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


class FieldCipher:
    """Encrypts and indexes one kind of personal data field."""

    def __init__(self, *, encryption_key: bytes, index_key: bytes, purpose: str) -> None:
        self.purpose = purpose.encode("ascii")
        self._aead = AESGCM(_derive(encryption_key, b"cs-register|enc|" + self.purpose))
        self._index_key = _derive(index_key, b"cs-register|bidx|" + self.purpose)

    def _aad(self, row_id: str) -> bytes:
        return self.purpose + b"|" + row_id.encode("ascii")

    def encrypt(self, plaintext: str, *, row_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), self._aad(row_id))
        return bytes([CIPHERTEXT_VERSION]) + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, row_id: str) -> str:
        if len(ciphertext) < 1 + NONCE_BYTES + 16 or ciphertext[0] != CIPHERTEXT_VERSION:
            raise DecryptionError("unrecognised ciphertext format")
        nonce, sealed = ciphertext[1 : 1 + NONCE_BYTES], ciphertext[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(row_id)).decode("utf-8")
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    def blind_index(self, normalised: str) -> int:
        digest = hmac.new(self._index_key, normalised.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") >> (32 - BLIND_INDEX_BITS)


class Keyring:
    """The ciphers of one deployment, built once from its settings."""

    def __init__(self, *, encryption_key: bytes, index_key: bytes) -> None:
        self.identity_code = FieldCipher(
            encryption_key=encryption_key, index_key=index_key, purpose="customer.identity_code"
        )
        # Rectification history keeps old and new values; they are personal data too.
        self.revision_value = FieldCipher(
            encryption_key=encryption_key, index_key=index_key, purpose="customer_revision.value"
        )
        # Shared secrets of signed webhooks (the chatbot platform): the server must be able to
        # recompute signatures, so they are encrypted rather than hashed.
        self.webhook_secret = FieldCipher(
            encryption_key=encryption_key, index_key=index_key, purpose="webhook_secret.secret"
        )
        # Staff members' authenticator secrets (two-step login): the server must compute the
        # expected codes, so they are encrypted rather than hashed.
        self.totp_secret = FieldCipher(
            encryption_key=encryption_key, index_key=index_key, purpose="staff_user.totp_secret"
        )
