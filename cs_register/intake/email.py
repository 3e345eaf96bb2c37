"""Raw-email intake: a message as a mail relay delivers it becomes an inbound email contact.

Used by `POST /api/v1/intake/email` (message/rfc822, integration token) and by
`flask intake email < message.eml` (an MTA pipe). Both call `receive_email`.

- The Message-ID is the idempotency key: the same message twice is one contact. A message
  without one gets a stable id derived from the SHA-256 of its raw bytes
  (`<sha256-hex@generated.cs-register.invalid>`), so an identical redelivery still matches.
- `In-Reply-To` and then `References` (newest first) are looked up among earlier messages; a
  reply becomes a new contact in the same thread and, if the earlier contact is linked, is
  linked to the same customer.
- Otherwise the contact is linked when the sender address belongs to exactly one customer.
- The body is the text/plain part, or the text/html part converted to text. Attachments are
  not stored: their names, types and sizes are listed in the notes and on the email row.
- Anything that cannot be read as an email with a sender gets ValidationFailed (422) and
  nothing is stored.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.search import CustomerRef, match_incoming
from cs_register.errors import Conflict
from cs_register.free_text import redact_identity_codes
from cs_register.intake.email_models import EmailMessage
from cs_register.intake.email_parsing import AttachmentNote, ParsedEmail, parse_email
from cs_register.integrations.models import IntegrationToken
from cs_register.permissions import Actor

log = logging.getLogger(__name__)

NO_SUBJECT = "(no subject)"
# A Date header this far ahead of our clock is wrong; the contact is dated on arrival instead.
MAX_DATE_AHEAD = timedelta(minutes=5)
# Emails piped in on the server's command line.
CLI_ACTOR = Actor.for_command("intake-email")


# --- the service --------------------------------------------------------------------------


def _id_hash(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def find_email(session: Session, message_id: str) -> EmailMessage | None:
    return session.scalar(
        sa.select(EmailMessage).where(EmailMessage.message_id_sha256 == _id_hash(message_id))
    )


def _parent_of(session: Session, parsed: ParsedEmail) -> EmailMessage | None:
    # In-Reply-To names the direct parent; References lists the thread oldest first, so the
    # newest known ancestor is the best parent when In-Reply-To is unknown to us.
    candidates = [parsed.in_reply_to] if parsed.in_reply_to else []
    candidates += list(reversed(parsed.references))
    for candidate in candidates:
        if candidate != parsed.message_id and (found := find_email(session, candidate)):
            return found
    return None


def _notes(parsed: ParsedEmail) -> str:
    notes = parsed.body
    if parsed.attachments:
        listed = "\n".join(
            f"- {note.filename} ({note.content_type}, {note.size_text})"
            for note in parsed.attachments
        )
        notes = f"{notes}\n\nAttachments (not stored):\n{listed}".strip()
    return notes


def receive_email(
    ctx: Context, *, raw: bytes, token: IntegrationToken | None = None
) -> tuple[EmailMessage, Contact, bool]:
    """Turn a raw email into an inbound `email` contact; returns (email, contact, created).

    The same Message-ID again returns the existing email and contact with `created` False.
    `token` is the integration that delivered it (None when piped in through the CLI).
    Identity codes in the subject, the body and the sender's name are redacted before anything
    is stored (`cs_register.free_text`): they belong in the customer's encrypted field only.
    """
    session = ctx.session
    parsed = parse_email(raw)
    existing = find_email(session, parsed.message_id)
    if existing is not None:
        found = session.get(Contact, existing.contact_id)
        assert found is not None  # noqa: S101 - non-null foreign key
        return existing, found, False

    parent = _parent_of(session, parsed)
    parent_contact = session.get(Contact, parent.contact_id) if parent is not None else None
    customer: CustomerRef | None = None
    if parent_contact is not None and parent_contact.customer_id is not None:
        parent_customer = session.get(Customer, parent_contact.customer_id)
        if parent_customer is not None:
            customer = CustomerRef(id=parent_customer.id, public_id=parent_customer.public_id)
    held_for = None
    if customer is None:
        match = match_incoming(session, email=parsed.sender_address)
        customer, held_for = match.customer, match.held_for

    occurred_at = parsed.sent_at or ctx.now
    if occurred_at > ctx.now + MAX_DATE_AHEAD:
        occurred_at = ctx.now
    try:
        # A savepoint, so that losing a race leaves the caller's transaction usable.
        with session.begin_nested():
            incoming = record_incoming_contact(
                ctx,
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                occurred_at=occurred_at,
                subject=parsed.subject or NO_SUBJECT,
                notes=_notes(parsed),
                customer_id=customer.id if customer is not None else None,
                held_for_customer_id=held_for,
            )
            email_row = EmailMessage(
                message_id=parsed.message_id,
                message_id_sha256=_id_hash(parsed.message_id),
                message_id_generated=parsed.message_id_generated,
                in_reply_to=parsed.in_reply_to,
                contact_id=incoming.id,
                parent_contact_id=parent.contact_id if parent is not None else None,
                thread_root_contact_id=(
                    (parent.thread_root_contact_id or parent.contact_id)
                    if parent is not None
                    else None
                ),
                sender_name=redact_identity_codes(parsed.sender_name),
                sender_address=parsed.sender_address,
                sent_at=parsed.sent_at,
                received_at=ctx.now,
                attachments=[note.as_json() for note in parsed.attachments],
                integration_token_id=token.id if token is not None else None,
            )
            session.add(email_row)
            session.flush()
    except IntegrityError:
        # The same message is being received by another request; its retry gets a 200.
        raise Conflict("This message is being received by another request; retry.") from None
    contact = session.get(Contact, incoming.id)
    assert contact is not None  # noqa: S101 - inserted just above
    audit.record(
        ctx,
        AuditAction.EMAIL_CONTACT_RECEIVED,
        email_row,
        details={
            "contact": contact.public_id,
            "customer_linked": customer is not None,
            **({"customer": customer.public_id} if customer is not None else {}),
            "threaded": parent is not None,
            "attachments": len(parsed.attachments),
            "message_id_generated": parsed.message_id_generated,
        },
    )
    return email_row, contact, True


# --- the console's view of a received email -------------------------------------------------


@dataclass(frozen=True)
class EmailDetails:
    """What the contact page shows about the email behind an email contact."""

    message: EmailMessage
    # Public ids of the contact this one replies to, and of the thread's first contact.
    reply_to_contact: str | None
    thread_root_contact: str | None

    @property
    def attachment_notes(self) -> list[AttachmentNote]:
        return [AttachmentNote.from_json(item) for item in self.message.attachments]


def email_details(session: Session, contact_id: int) -> EmailDetails | None:
    """The received email behind contact `contact_id`, or None for other contacts.

    Shown only on the contact page, whose view is already audited and permission-checked.
    """
    message = session.scalar(sa.select(EmailMessage).where(EmailMessage.contact_id == contact_id))
    if message is None:
        return None
    linked_ids = [
        contact
        for contact in (message.parent_contact_id, message.thread_root_contact_id)
        if contact is not None
    ]
    public_ids: dict[int, str] = {
        contact_id: public_id
        for contact_id, public_id in session.execute(
            sa.select(Contact.id, Contact.public_id).where(Contact.id.in_(linked_ids))
        )
    }
    return EmailDetails(
        message=message,
        reply_to_contact=public_ids.get(message.parent_contact_id or 0),
        thread_root_contact=public_ids.get(message.thread_root_contact_id or 0),
    )
