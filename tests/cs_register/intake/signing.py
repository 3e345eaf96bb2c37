"""Signing chatbot webhooks the way a Standard Webhooks sender does, for tests and fuzzing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_secret() -> str:
    """A fresh secret in the spec's `whsec_<base64>` form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature(secret: str, body: bytes, *, webhook_id: str, timestamp: int) -> str:
    """The `v1,<base64>` signature of `body` under `secret` (no header assembly)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(secret: str, body: bytes, *, webhook_id: str, timestamp: int) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed with `secret`.

    `timestamp` is Unix seconds; tests pass the app clock's value (`int(clock.now.timestamp())`).
    """
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, body, webhook_id=webhook_id, timestamp=timestamp),
    }
