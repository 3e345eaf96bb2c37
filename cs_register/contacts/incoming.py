"""The one way in for contacts, whichever channel they came by: the PBX, the email relay, the
chatbot and the agent's console.

Each channel parses and validates its own input, then hands the contact to
`record_incoming_contact`, which applies the rules every channel shares:

- the free-text policy (`cs_register.free_text`): identity codes in the subject and the
  notes (an email body, a chatbot transcript) are redacted before anything is stored;
- the customer's "last contact" only ever moves forward, whatever order contacts arrive in;
- the contact is created by `ctx`'s actor (a staff member on the console, nobody for an
  integration, whose token the channel's own row records).

It writes with Core statements: the chatbot webhook stores thousands of conversations a
minute, and the ORM's per-object bookkeeping would be pure cost here. Callers that need the
ORM object load it with `session.get(Contact, incoming.id)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.contacts.models import MAX_SUBJECT, Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.db import new_public_id
from cs_register.free_text import redact_identity_codes

_contacts = cast(sa.Table, Contact.__table__)
_customers = cast(sa.Table, Customer.__table__)
_INSERT_CONTACT = sa.insert(_contacts).returning(_contacts.c.id)
# Only ever moves forward: an older contact delivered late does not rewind it.
_ADVANCE_LAST_CONTACT = (
    sa.update(_customers)
    .where(
        _customers.c.id == sa.bindparam("customer_id"),
        sa.or_(
            _customers.c.last_contact_at.is_(None),
            _customers.c.last_contact_at < sa.bindparam("occurred_at"),
        ),
    )
    .values(last_contact_at=sa.bindparam("occurred_at"))
)


@dataclass(frozen=True)
class IncomingContact:
    """The contact just stored, named in the audit trail as the row itself would be."""

    audit_subject_type: ClassVar[str] = Contact.audit_subject_type
    id: int
    public_id: str
    customer_id: int | None


def record_incoming_contact(
    ctx: Context,
    *,
    channel: Channel,
    direction: Direction,
    occurred_at: datetime,
    subject: str,
    notes: str,
    customer_id: int | None,
    handled_by_id: int | None = None,
    held_for_customer_id: int | None = None,
) -> IncomingContact:
    """Store one contact, in `ctx`'s transaction.

    The caller writes its own audit row (it knows what arrived: a call, an email, a chat).
    """
    public_id = new_public_id()
    connection = ctx.session.connection()
    contact_id: int = connection.execute(
        _INSERT_CONTACT,
        {
            "public_id": public_id,
            "channel": channel,
            "direction": direction,
            "occurred_at": occurred_at,
            "customer_id": customer_id,
            "held_for_customer_id": held_for_customer_id,
            "handled_by_id": handled_by_id,
            # A redaction marker is longer than the code it replaces; the column is not.
            "subject": redact_identity_codes(subject)[:MAX_SUBJECT],
            "notes": redact_identity_codes(notes),
            "created_at": ctx.now,
            "created_by_id": ctx.actor.staff_id,
        },
    ).scalar_one()
    if customer_id is not None:
        advance_last_contact(ctx.session, customer_id, occurred_at)
    return IncomingContact(id=contact_id, public_id=public_id, customer_id=customer_id)


def advance_last_contact(session: Session, customer_id: int, occurred_at: datetime) -> None:
    """Move the customer's "last contact" to `occurred_at` unless it is already later.

    Contacts arrive out of order (backdated console entries, late deliveries, linking an old
    contact), and the date must never move back.
    """
    session.connection().execute(
        _ADVANCE_LAST_CONTACT, {"customer_id": customer_id, "occurred_at": occurred_at}
    )
