"""Correcting whose contact it is: a contact linked to the wrong customer is moved (or
unlinked) with its reason, and the move is kept as the contact's link history.

This rewrites a part of two people's histories, so it is not an everyday console action (an
agent links only unidentified contacts, `services.link_contact`). The DPO does it while
handling a rectification request (`cs_register.privacy.relinks`), which validates the reason;
the move and its audit row are one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.incoming import advance_last_contact
from cs_register.contacts.models import Contact, ContactRelink
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.errors import Conflict
from cs_register.permissions import Permission, require


def relink_contact(
    ctx: Context,
    *,
    contact: Contact,
    to_customer: Customer | None,
    reason: str,
    request_public_id: str | None,
) -> ContactRelink:
    """Move `contact` to `to_customer` (None: to nobody, it waits unlinked)."""
    require(ctx.actor, Permission.HANDLE_PRIVACY_REQUESTS)
    if contact.customer_id is None:
        raise Conflict("This contact is not linked to anyone; link it from the contact page.")
    to_id = to_customer.id if to_customer is not None else None
    if contact.customer_id == to_id:
        raise Conflict("The contact is already linked to that customer.")
    move = ContactRelink(
        contact_id=contact.id,
        from_customer_id=contact.customer_id,
        to_customer_id=to_id,
        reason=reason,
        request_public_id=request_public_id,
        changed_by_id=ctx.actor.staff_id,
        changed_at=ctx.now,
    )
    ctx.session.add(move)
    from_public_id = ctx.session.scalar(
        sa.select(Customer.public_id).where(Customer.id == contact.customer_id)
    )
    contact.customer_id = to_id
    contact.linked_at = ctx.now if to_id is not None else None
    contact.linked_by_id = ctx.actor.staff_id if to_id is not None else None
    if to_customer is not None:
        advance_last_contact(ctx.session, to_customer.id, contact.occurred_at)
    ctx.session.flush()
    audit.record(
        ctx,
        AuditAction.CONTACT_RELINKED,
        contact,
        details={
            "from": from_public_id,
            "to": to_customer.public_id if to_customer is not None else None,
            "request": request_public_id,
        },
    )
    return move


def link_history(session: Session, contact_id: int) -> Sequence[ContactRelink]:
    return _moves(session, ContactRelink.contact_id == contact_id)


def relinks_in_request(session: Session, request_public_id: str) -> Sequence[ContactRelink]:
    return _moves(session, ContactRelink.request_public_id == request_public_id)


def _moves(session: Session, which: sa.ColumnElement[bool]) -> Sequence[ContactRelink]:
    query = sa.select(ContactRelink).where(which)
    return session.scalars(query.order_by(ContactRelink.changed_at, ContactRelink.id)).all()
