"""Recording and ending a customer's prohibitions and consents.

Customer service records them as the customer says so (during a contact, usually): one
audited step each, in the caller's unit of work, with its entry in the marketing feed
(`cs_register.consents.feed`) in the same transaction, so the feed never shows a change that
did not happen or misses one that did.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.consents import feed
from cs_register.consents.models import ChangeKind, ChoiceKind, CustomerChoice
from cs_register.consents.topics import ChoiceTopics
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.services import get_visible_customer
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.languages import N_
from cs_register.permissions import Permission, require
from cs_register.received_via import ReceivedVia


def choices_of(session: Session, customer_id: int) -> Sequence[CustomerChoice]:
    """The customer's choices, those in force first, newest first."""
    return session.scalars(
        sa.select(CustomerChoice)
        .where(CustomerChoice.customer_id == customer_id)
        .order_by(
            CustomerChoice.ended_at.is_not(None),
            CustomerChoice.started_at.desc(),
            CustomerChoice.id.desc(),
        )
    ).all()


def in_force(session: Session, customer_id: int, kind: ChoiceKind, topic: str) -> bool:
    return (
        session.scalar(
            sa.select(CustomerChoice.id).where(
                CustomerChoice.customer_id == customer_id,
                CustomerChoice.kind == kind,
                CustomerChoice.topic == topic,
                CustomerChoice.ended_at.is_(None),
            )
        )
        is not None
    )


def _channel(raw: str) -> ReceivedVia:
    try:
        return ReceivedVia(raw)
    except ValueError:
        message = N_("Say how the customer told us.")
        raise ValidationFailed({"channel": [message]}) from None


def _kind(raw: str) -> ChoiceKind:
    try:
        return ChoiceKind(raw)
    except ValueError:
        message = N_("Choose a prohibition or a consent.")
        raise ValidationFailed({"choice": [message]}) from None


def record_choice(
    ctx: Context,
    topics: ChoiceTopics,
    *,
    customer_public_id: str,
    kind: str,
    topic: str,
    channel: str,
    contact_public_id: str | None = None,
) -> CustomerChoice:
    """A prohibition comes into force, or a consent is given, from now."""
    require(ctx.actor, Permission.LOG_CONTACTS)
    customer = get_visible_customer(ctx, customer_public_id)
    choice_kind = _kind(kind)
    if not topics.knows(choice_kind, topic):
        message = N_("Choose a prohibition or a consent from the list.")
        raise ValidationFailed({"choice": [message]})
    how = _channel(channel)
    contact_id = _contact_of(ctx.session, customer, contact_public_id)
    if in_force(ctx.session, customer.id, choice_kind, topic):
        if choice_kind is ChoiceKind.PROHIBITION:
            raise Conflict("This prohibition is already in force for the customer.")
        raise Conflict("This consent is already given for the customer.")
    choice = CustomerChoice(
        customer_id=customer.id,
        kind=choice_kind,
        topic=topic,
        started_at=ctx.now,
        started_channel=how,
        started_by_id=ctx.actor.staff_id,
        contact_id=contact_id,
    )
    ctx.session.add(choice)
    _record_change(ctx, customer, choice, ChangeKind.STARTED, how)
    return choice


def end_choice(
    ctx: Context, *, customer_public_id: str, choice_public_id: str, channel: str
) -> CustomerChoice:
    """A prohibition is lifted, or a consent withdrawn, from now."""
    require(ctx.actor, Permission.LOG_CONTACTS)
    customer = get_visible_customer(ctx, customer_public_id)
    how = _channel(channel)
    choice = ctx.session.scalar(
        sa.select(CustomerChoice)
        .where(
            CustomerChoice.public_id == choice_public_id,
            CustomerChoice.customer_id == customer.id,
        )
        .with_for_update()
    )
    if choice is None:
        raise NotFound("No such prohibition or consent.")
    if choice.ended_at is not None:
        raise Conflict("This has already ended.")
    choice.ended_at = ctx.now
    choice.ended_channel = how
    choice.ended_by_id = ctx.actor.staff_id
    _record_change(ctx, customer, choice, ChangeKind.ENDED, how)
    return choice


_AUDIT_ACTIONS = {
    ChangeKind.STARTED: AuditAction.CUSTOMER_CHOICE_RECORDED,
    ChangeKind.ENDED: AuditAction.CUSTOMER_CHOICE_ENDED,
}


def _record_change(
    ctx: Context,
    customer: Customer,
    choice: CustomerChoice,
    change: ChangeKind,
    how: ReceivedVia,
) -> None:
    """The change's feed entry and audit row, in the same transaction as the change."""
    ctx.session.flush()
    feed.append_change(
        ctx.session,
        customer_public_id=customer.public_id,
        change=change,
        at=ctx.now,
        choice=choice,
        channel=how,
    )
    audit.record(
        ctx,
        _AUDIT_ACTIONS[change],
        customer,
        details={"kind": choice.kind.value, "topic": choice.topic, "channel": how.value},
    )


def _contact_of(session: Session, customer: Customer, public_id: str | None) -> int | None:
    """The customer's own contact it was recorded during, if one was named."""
    if not public_id:
        return None
    contact_id = session.scalar(
        sa.select(Contact.id).where(
            Contact.public_id == public_id, Contact.customer_id == customer.id
        )
    )
    if contact_id is None:
        message = N_("Choose one of this customer's contacts.")
        raise ValidationFailed({"contact": [message]})
    return contact_id
