"""Webhook secrets and Standard Webhooks signature verification.

A secret is `whsec_` followed by the base64 of 32 random bytes, the form of the Standard
Webhooks specification that chatbot platforms already accept. The HMAC key is the decoded
part after `whsec_`. Secrets are stored encrypted (`Keyring.webhook_secret`); the secret itself
is returned once, by `create_webhook_secret`, and never shown again.

Rotation: create a new secret while the old one stays active, configure the platform with the
new one, then retire the old. Every active secret is accepted, so nothing is dropped meanwhile.

`actor` is None only for the deployment's own `flask integrations webhook-secret ...` commands.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.db import new_public_id
from cs_register.errors import Conflict, Unauthenticated
from cs_register.integrations import credentials
from cs_register.integrations.models import WebhookSecret
from cs_register.integrations.services import normalise_token_name
from cs_register.languages import N_

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public scheme prefix, not a secret
SECRET_BYTES = 32
# Standard Webhooks: reject timestamps further than this from our clock, in either direction.
TIMESTAMP_TOLERANCE = timedelta(minutes=5)
SIGNATURE_VERSION = "v1"
SIGNATURE_BYTES = 32  # HMAC-SHA256
# Bounds on attacker-controlled header work: a few signatures are a rotation, hundreds are not.
MAX_SIGNATURES = 8
MAX_SIGNATURE_HEADER = 1024
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,256}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

# The 401 challenge: no registered HTTP scheme covers Standard Webhooks signatures, and
# "Bearer" would send a client looking for a token this route never accepts.
SIGNATURE_CHALLENGE = "Webhook-Signature"
BAD_SIGNATURE_DETAIL = (
    "The webhook signature is missing or not valid (check the secret, the webhook-id,"
    " webhook-timestamp and webhook-signature headers, and the clock)."
)


# --- secret management -------------------------------------------------------------------


SECRETS = credentials.Kind(
    WebhookSecret,
    "a webhook secret",
    ended_column="retired",
    not_found=N_("No such webhook secret."),
    name_taken=N_("A webhook secret with that name already exists."),
    already_ended=N_("This webhook secret has already been retired."),
)
find_webhook_secret_by_name = SECRETS.find_by_name
get_webhook_secret = SECRETS.get
get_webhook_secret_by_name = SECRETS.get_by_name


def create_webhook_secret(
    ctx: Context, keyring: Keyring, *, name: str, replaces: WebhookSecret | None = None
) -> tuple[WebhookSecret, str]:
    """Create a named, active secret. Returns the row and the `whsec_...` secret (shown once).

    `replaces` only records in the audit trail which secret this one rotates; the old one
    stays active until it is retired.
    """
    credentials.require_manager(ctx)
    clean_name = normalise_token_name(name)
    SECRETS.refuse_taken_name(ctx.session, clean_name)
    raw = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")
    # The ciphertext is bound to the row's public id, so the id is chosen up front.
    public_id = new_public_id()
    secret = WebhookSecret(
        public_id=public_id,
        name=clean_name,
        secret_ciphertext=keyring.webhook_secret.encrypt(raw, row_id=public_id),
        created_at=ctx.now,
        created_by_id=ctx.actor.staff_id,
    )
    SECRETS.add(ctx, secret, {"rotates": replaces.public_id} if replaces is not None else {})
    return secret, raw


def rotate_webhook_secret(
    ctx: Context, keyring: Keyring, *, public_id: str, name: str
) -> tuple[WebhookSecret, WebhookSecret, str]:
    """Start a rotation: a new secret called `name` next to the active one `public_id`.

    Returns (old, new, new secret). Both sign-checks pass until the old one is retired.
    """
    credentials.require_manager(ctx)
    old = get_webhook_secret(ctx.session, public_id)
    if not old.is_active:
        raise Conflict("A retired webhook secret cannot be rotated; create a new one instead.")
    new, raw = create_webhook_secret(ctx, keyring, name=name, replaces=old)
    return old, new, raw


def retire_webhook_secret(ctx: Context, *, public_id: str) -> WebhookSecret:
    """Retire a secret: webhooks signed only with it are refused from the next request on."""
    return SECRETS.end(ctx, public_id, lambda secret: {})


@dataclass(frozen=True)
class WebhookSecretOverview:
    secret: WebhookSecret
    created_by: str  # a username, or "cli"
    retired_by: str | None


def list_webhook_secrets(ctx: Context) -> Sequence[WebhookSecretOverview]:
    """Every secret, active ones first (newest first), with who created and retired it."""
    credentials.require_manager(ctx)
    rows = credentials.with_people(
        ctx.session,
        SECRETS,
        order_by=(
            WebhookSecret.retired_at.is_not(None),
            WebhookSecret.created_at.desc(),
            WebhookSecret.id.desc(),
        ),
    )
    return [
        WebhookSecretOverview(secret=secret, created_by=created_by, retired_by=retired_by)
        for secret, created_by, retired_by in rows
    ]


def secret_key(raw: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    return base64.b64decode(raw.removeprefix(SECRET_PREFIX), validate=True)


_ACTIVE_SECRETS = (
    sa.select(WebhookSecret.public_id, WebhookSecret.secret_ciphertext)
    .where(WebhookSecret.retired_at.is_(None))
    .order_by(WebhookSecret.id)
)


def active_webhook_keys(session: Session, keyring: Keyring) -> list[bytes]:
    """The HMAC keys of every active secret (usually one; two during a rotation).

    Read on every webhook, so a retired secret is refused from the next request on.
    """
    rows = session.connection().execute(_ACTIVE_SECRETS).all()
    return [
        secret_key(keyring.webhook_secret.decrypt(ciphertext, row_id=public_id))
        for public_id, ciphertext in rows
    ]


# --- verification ------------------------------------------------------------------------


def _presented_signatures(header: str) -> list[bytes]:
    """The well-formed v1 signatures of a `webhook-signature` header; others are ignored."""
    found: list[bytes] = []
    for item in header.split()[:MAX_SIGNATURES]:
        version, _, encoded = item.partition(",")
        if version != SIGNATURE_VERSION or not encoded:
            continue
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == SIGNATURE_BYTES:
            found.append(decoded)
    return found


def _refuse(reason: str) -> Unauthenticated:
    # The reason goes to the log only; the client learns nothing about which check failed.
    log.warning("webhook signature refused: %s", reason)
    return Unauthenticated(BAD_SIGNATURE_DETAIL, challenge=SIGNATURE_CHALLENGE)


def verify_webhook(
    *,
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[bytes],
    now: datetime,
) -> str:
    """Check a Standard Webhooks signature over the raw `body`; returns the webhook id.

    Signed content is `"{id}.{timestamp}." + body`. Every (active key x presented v1
    signature) pair is compared in constant time, and the loop never stops early, so timing
    reveals neither which key nor which signature matched. Any failure is `Unauthenticated`.
    """
    webhook_id = headers.get("webhook-id") or ""
    timestamp = headers.get("webhook-timestamp") or ""
    signature_header = headers.get("webhook-signature") or ""
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise _refuse("missing or malformed webhook-id")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise _refuse("missing or malformed webhook-timestamp")
    if not signature_header or len(signature_header) > MAX_SIGNATURE_HEADER:
        raise _refuse("missing or oversized webhook-signature")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > TIMESTAMP_TOLERANCE.total_seconds():
        raise _refuse("timestamp outside the tolerance")
    presented = _presented_signatures(signature_header)
    if not presented:
        raise _refuse("no well-formed v1 signature")
    if not keys:
        raise _refuse("no active webhook secret")
    signed_content = f"{webhook_id}.{timestamp}.".encode("ascii") + body
    matched = False
    for key in keys:
        expected = hmac.new(key, signed_content, hashlib.sha256).digest()
        for candidate in presented:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise _refuse("no signature matches an active secret")
    return webhook_id
