"""Chatbot conversations arriving by signed webhook, stored as contacts.

`receive_chatbot_conversation` turns one verified delivery into a chatbot contact: linked to
the customer whose email (checked first) or phone matches exactly one customer, otherwise left
unlinked for an agent. Two idempotency keys protect against duplicates: the webhook id (a
retried delivery gets the original response back) and the conversation id (the same
conversation delivered again under a new webhook id is still one contact).

Transcripts are stored as the contact's notes, in clear like every contact note, so anything
shaped like an identity code is redacted first: identity codes live encrypted on the customer.
The payload's rules are in `intake.chatbot_payload`, the queue it feeds in `intake.handovers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.search import match_incoming
from cs_register.errors import Conflict, ValidationFailed
from cs_register.intake.chatbot_payload import ChatbotPayload, render_notes, validate_payload
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from cs_register.permissions import Actor

# The chatbot is one integration, authenticated by its webhook signature.
ACTOR = Actor.for_integration("chatbot")
# A sender retries for hours, not weeks; after this a delivery row is purged (see
# `purge_webhook_deliveries`). The conversation id still prevents duplicates after that.
DELIVERY_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class IntakeResult:
    """What the webhook answers: status code and JSON body."""

    status_code: int
    body: dict[str, Any]


# --- the contact -------------------------------------------------------------------------


# The webhook is the internet-facing hot path: a chatbot platform may deliver hundreds of
# conversations a second. So it reads and writes with prebuilt Core statements on the
# session's connection instead of ORM units of work (less than half the cost per delivery,
# see docs/benchmarks.md); the transaction is still the request's, committed once.
_contacts = cast(sa.Table, Contact.__table__)
_conversations = cast(sa.Table, ChatbotConversation.__table__)
_deliveries = cast(sa.Table, WebhookDelivery.__table__)

_SELECT_DELIVERY = sa.select(_deliveries.c.status_code, _deliveries.c.response).where(
    _deliveries.c.webhook_id == sa.bindparam("webhook_id")
)
_SELECT_CONVERSATION = (
    sa.select(
        _contacts.c.id,
        _contacts.c.public_id,
        _contacts.c.customer_id,
        _conversations.c.needs_handover,
    )
    .join_from(_conversations, _contacts, _contacts.c.id == _conversations.c.contact_id)
    .where(_conversations.c.conversation_id == sa.bindparam("conversation_id"))
)
_INSERT_CONVERSATION = sa.insert(_conversations)
_INSERT_DELIVERY = sa.insert(_deliveries)


def stored_response(session: Session, webhook_id: str) -> IntakeResult | None:
    """The answer an earlier delivery with this webhook id got, if there was one."""
    row = session.connection().execute(_SELECT_DELIVERY, {"webhook_id": webhook_id}).first()
    if row is None:
        return None
    return IntakeResult(row.status_code, dict(row.response))


def _existing_conversation(
    session: Session, conversation_id: str
) -> sa.Row[int, str, int | None, bool] | None:
    return (
        session.connection()
        .execute(_SELECT_CONVERSATION, {"conversation_id": conversation_id})
        .first()
    )


def _conversation_response(row: sa.Row[int, str, int | None, bool]) -> IntakeResult:
    """The 200 answer for a conversation that is already a contact."""
    body = _result_body(
        row.public_id, linked=row.customer_id is not None, handover=row.needs_handover
    )
    return IntakeResult(200, body)


def _result_body(contact_public_id: str, *, linked: bool, handover: bool) -> dict[str, Any]:
    return {"contact_id": contact_public_id, "linked": linked, "handover": handover}


def _record_delivery(
    connection: sa.Connection,
    *,
    webhook_id: str,
    now: datetime,
    contact_id: int | None,
    result: IntakeResult,
) -> None:
    connection.execute(
        _INSERT_DELIVERY,
        {
            "webhook_id": webhook_id,
            "received_at": now,
            "contact_id": contact_id,
            "status_code": result.status_code,
            "response": result.body,
        },
    )


def _store(ctx: Context, payload: ChatbotPayload, *, webhook_id: str) -> IntakeResult:
    match = match_incoming(ctx.session, email=payload.customer_email, phone=payload.customer_phone)
    customer = match.customer
    subject = "Chatbot conversation" + (f" ({payload.language})" if payload.language else "")
    contact = record_incoming_contact(
        ctx,
        channel=Channel.CHATBOT,
        direction=Direction.INBOUND,
        occurred_at=payload.started_at,
        subject=subject,
        notes=render_notes(payload),
        customer_id=customer.id if customer is not None else None,
        held_for_customer_id=match.held_for,
    )
    connection = ctx.session.connection()
    connection.execute(
        _INSERT_CONVERSATION,
        {
            "conversation_id": payload.conversation_id,
            "contact_id": contact.id,
            "language": payload.language,
            "started_at": payload.started_at,
            "ended_at": payload.ended_at,
            "received_at": ctx.now,
            "needs_handover": payload.handover,
        },
    )
    result = IntakeResult(
        201,
        _result_body(contact.public_id, linked=customer is not None, handover=payload.handover),
    )
    _record_delivery(
        connection, webhook_id=webhook_id, now=ctx.now, contact_id=contact.id, result=result
    )
    audit.record(
        ctx,
        AuditAction.CHATBOT_CONTACT_RECEIVED,
        contact,
        details={
            "contact": contact.public_id,
            "linked": customer is not None,
            "handover": payload.handover,
            **({"customer": customer.public_id} if customer is not None else {}),
        },
    )
    return result


class Repeat(Exception):
    """This webhook id or conversation is already stored: a unique key fired on INSERT.

    The failed INSERT leaves the caller's transaction unusable (PostgreSQL aborts it), so the
    caller rolls the unit of work back and asks `answer_repeat` in a fresh one.
    """

    def __init__(self, conversation_id: str) -> None:
        super().__init__("this webhook or conversation is already stored")
        self.conversation_id = conversation_id


def receive_chatbot_conversation(ctx: Context, *, webhook_id: str, payload: object) -> IntakeResult:
    """Store one verified chatbot delivery as a contact (201).

    Call only after the signature was verified. Invalid payloads raise `ValidationFailed` and
    store nothing, unless the webhook id is known: a retry gets its stored answer even if the
    body would no longer pass. A webhook id or conversation id that is already stored raises
    `Repeat`: roll back, then call `answer_repeat`.

    Nothing is looked up first: the unique keys on the webhook id and the conversation id
    decide. Repeats are rare, and a lookup before every insert would cost every delivery two
    queries (and, on SQLite, hold the writers' turn for them) to spare the rare repeat a
    rollback. A concurrent duplicate is the same case and gets the same answer.
    """
    # Validated before the first statement opens the transaction (on SQLite, that takes the
    # writers' turn); a known webhook id still has the last word.
    try:
        valid = validate_payload(payload, now=ctx.now)
    except ValidationFailed as invalid:
        if (delivered := stored_response(ctx.session, webhook_id)) is not None:
            return delivered
        raise invalid from None
    try:
        return _store(ctx, valid, webhook_id=webhook_id)
    except IntegrityError as error:
        raise Repeat(valid.conversation_id) from error


def answer_repeat(
    session: Session, *, webhook_id: str, conversation_id: str, now: datetime
) -> IntakeResult:
    """After `Repeat`, in a fresh transaction: the answer for a delivery already stored.

    A known webhook id (a retry) gets its original status and body. A known conversation
    under a new webhook id gets 200 with the existing contact, and that webhook id is
    remembered, so its own retries get the same answer. Nothing else is written.
    """
    delivered = stored_response(session, webhook_id)
    if delivered is not None:
        return delivered
    existing = _existing_conversation(session, conversation_id)
    if existing is None:
        # The unique key fired for a row this transaction cannot see yet.
        raise Conflict("This conversation is being stored by another request; retry.")
    result = _conversation_response(existing)
    try:
        _record_delivery(
            session.connection(),
            webhook_id=webhook_id,
            now=now,
            contact_id=existing.id,
            result=result,
        )
    except IntegrityError:
        # The same webhook id, stored by a concurrent request a moment ago.
        raise Conflict("This delivery is being stored by another request; retry.") from None
    return result


def purge_webhook_deliveries(session: Session, *, now: datetime) -> int:
    """Delete delivery records older than `DELIVERY_RETENTION`; returns how many."""
    result = session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.received_at < now - DELIVERY_RETENTION)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
