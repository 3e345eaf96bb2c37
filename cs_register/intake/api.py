"""Intake API: contacts delivered by machines (`/api/v1/intake/...`).

- `POST /api/v1/intake/chatbot` (JSON), signed per Standard Webhooks with a webhook secret
  (see cs_register.integrations.webhooks): 201 with the new contact, 200 for a repeat (the same
  webhook id, or the same conversation again). Checks run in this order, and each failure
  stores nothing: body over 256 KiB 413, bad or missing signature 401, not JSON content type
  415, not JSON 400, invalid fields 422.

Every error is an RFC 9457 problem+json (see cs_register.errors). Intake needs only the
database: no Redis, no job queue.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from cs_register.db import get_database, get_session
from cs_register.errors import UnsupportedMediaType
from cs_register.intake import chatbot, email_parsing
from cs_register.intake import email as email_intake
from cs_register.integrations.auth import require_integration
from cs_register.integrations.models import TokenScope
from cs_register.integrations.webhooks import (
    WEBHOOK_HEADERS,
    active_webhook_keys,
    verify_webhook,
)
from cs_register.permissions import Actor
from cs_register.request_bodies import parse_strict_json, read_capped_body
from cs_register.web import current_keyring, now, request_context

blueprint = Blueprint("intake_api", __name__, url_prefix="/api/v1/intake")

# A long conversation is well under 150 KiB of JSON; the cap keeps signature checks cheap.
MAX_CHATBOT_BODY_BYTES = 256 * 1024
_JSON_CHARSETS = frozenset({"utf-8", "utf8"})


@blueprint.post("/chatbot")
def chatbot_webhook() -> Any:
    raw = read_capped_body(MAX_CHATBOT_BODY_BYTES)
    # Read outside the request's unit of work: on SQLite that one holds the single write lock
    # from its first statement, and nothing is written before the delivery is proven
    # authentic and valid (see receive_chatbot_conversation).
    with get_database(current_app).read_only() as reader:
        keys = active_webhook_keys(reader, current_keyring())
    # Authenticity first, on the exact bytes received: nothing is parsed before it is proven.
    signed_headers = {name: request.headers.get(name, "") for name in WEBHOOK_HEADERS}
    webhook_id = verify_webhook(headers=signed_headers, body=raw, keys=keys, now=now())
    if request.mimetype != "application/json" or (
        request.mimetype_params.get("charset", "utf-8").lower() not in _JSON_CHARSETS
    ):
        raise UnsupportedMediaType("Send the conversation as application/json (UTF-8).")
    payload = parse_strict_json(raw)
    session = get_session()
    try:
        result = chatbot.receive_chatbot_conversation(
            request_context(chatbot.ACTOR), webhook_id=webhook_id, payload=payload
        )
    except chatbot.Repeat as repeat:
        # The failed INSERT voided this unit of work; answer from the stored rows instead.
        session.rollback()
        result = chatbot.answer_repeat(
            session, webhook_id=webhook_id, conversation_id=repeat.conversation_id, now=now()
        )
    response = jsonify(result.body)
    response.status_code = result.status_code
    return response


# --- email intake ---
# `POST /api/v1/intake/email`: a raw RFC 5322 message (Content-Type: message/rfc822) from a
# mail relay, authenticated with an integration token. 201 new contact, 200 the same
# Message-ID again, 401 bad token, 415 other content type, 413 over 25 MB, 422 not a usable
# email. Token auth is per route: the chatbot route on this blueprint uses signatures instead.

EMAIL_MEDIA_TYPE = "message/rfc822"


@blueprint.post("/email")
def email_intake_message() -> Any:
    token = require_integration(TokenScope.EMAIL)
    if request.mimetype != EMAIL_MEDIA_TYPE:
        raise UnsupportedMediaType("Send the raw message with Content-Type: message/rfc822.")
    raw = read_capped_body(email_parsing.MAX_MESSAGE_BYTES)
    email_row, contact, created = email_intake.receive_email(
        request_context(Actor.for_integration(token.name)), raw=raw, token=token
    )
    response = jsonify(
        {
            "email_id": email_row.public_id,
            "contact_id": contact.public_id,
            "customer_linked": contact.customer_id is not None,
            "threaded": email_row.parent_contact_id is not None,
            "created": created,
        }
    )
    response.status_code = 201 if created else 200
    return response
