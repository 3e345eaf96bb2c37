"""What an agent's console shows of their own calls: the screen pop of the call ringing or
answered for them right now, and their recent calls (the page the pop degrades to).

Both show the customers the caller's number matches, so both are views of personal data:
the pop is audited the first time it shows a call's customers to an agent (not on every
poll, which would bury the audit trail under one row a second), the recent calls on every
page view. Only agents and supervisors take calls; an agent sees only their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from cs_register.customers.services import masked_identity_code
from cs_register.permissions import Permission, require
from recordings.models import Call

# A call pops for this long after its latest event unless the PBX reports its end first, so a
# call whose end never arrives does not stay on the screen.
LIVE_WINDOW = timedelta(minutes=5)
# No call lasts longer: bounds the index range the pop's query reads on every poll.
LONGEST_CALL = timedelta(hours=12)
RECENT_PERIOD = timedelta(days=7)
MAX_RECENT_CALLS = 50
# A number shared by more people than this is a switchboard; the agent searches instead.
MAX_POP_CUSTOMERS = 10
WITHHELD = "withheld"


@dataclass(frozen=True)
class PopCustomer:
    public_id: str
    name: str
    masked_identity_code: str | None
    # The call's contact is already linked to this customer (the number was only theirs).
    linked: bool


@dataclass(frozen=True)
class AgentCall:
    call: Call
    contact: Contact
    # "ringing", "answered", or None for a call no live event was heard of.
    state: str | None
    caller: str
    customers: list[PopCustomer]

    @property
    def since(self) -> datetime:
        return self.call.answered_at or self.call.ringing_at or self.call.started_at


def format_caller(number: str | None) -> str:
    """The caller's number as agents say it: national form for Finnish numbers, the
    subscriber part grouped (040 123 4567), international form otherwise."""
    if number is None:
        return WITHHELD
    parsed = phonenumbers.parse(number, None)
    if phonenumbers.region_code_for_number(parsed) != "FI":
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    prefix, _, subscriber = national.partition(" ")
    if subscriber.isdigit() and len(subscriber) in (6, 7):
        subscriber = f"{subscriber[:3]} {subscriber[3:]}"
    return f"{prefix} {subscriber}".strip()


def _customers(ctx: Context, keyring: Keyring, call: Call, contact: Contact) -> list[PopCustomer]:
    """The contact's customer if it is linked, else everyone visible with the caller's number:
    the same exact-number rule the intake links by (`customers.search.match_incoming`), but
    every match is shown, since the agent is the one who chooses between them."""
    session = ctx.session
    if contact.customer_id is not None:
        query = sa.select(Customer).where(Customer.id == contact.customer_id)
    elif call.customer_number is not None:
        query = (
            sa.select(Customer)
            .where(Customer.phone_e164 == call.customer_number)
            .order_by(Customer.name_key_family_first, Customer.id)
            .limit(MAX_POP_CUSTOMERS)
        )
    else:
        return []
    found = session.scalars(query.where(restriction.visible_to(ctx.actor)))
    return [
        PopCustomer(
            public_id=customer.public_id,
            name=customer.full_name,
            masked_identity_code=masked_identity_code(keyring, customer),
            linked=contact.customer_id == customer.id,
        )
        for customer in found
    ]


def _describe(ctx: Context, keyring: Keyring, call: Call) -> AgentCall:
    contact = ctx.session.get(Contact, call.contact_id)
    assert contact is not None  # noqa: S101 - calls.contact_id is a non-null foreign key
    state = "answered" if call.answered_at else "ringing" if call.ringing_at else None
    return AgentCall(
        call=call,
        contact=contact,
        state=state,
        caller=format_caller(call.customer_number),
        customers=_customers(ctx, keyring, call, contact),
    )


def live_call(ctx: Context, keyring: Keyring) -> AgentCall | None:
    """The call ringing or answered for `ctx`'s agent now, if any: its latest event within
    `LIVE_WINDOW` and no end reported. The newest one if there are several."""
    require(ctx.actor, Permission.LOG_CONTACTS)
    cutoff = ctx.now - LIVE_WINDOW
    call = ctx.session.scalar(
        sa.select(Call)
        .where(
            Call.agent_id == ctx.actor.staff_id,
            Call.started_at >= ctx.now - LONGEST_CALL,
            Call.ended_at.is_(None),
            sa.or_(Call.ringing_at > cutoff, Call.answered_at > cutoff),
        )
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(1)
    )
    if call is None:
        return None
    shown = _describe(ctx, keyring, call)
    if shown.customers and call.pop_shown_to_id != ctx.actor.staff_id:
        call.pop_shown_at = ctx.now
        call.pop_shown_to_id = ctx.actor.staff_id
        audit.record(
            ctx,
            AuditAction.SCREEN_POP_SHOWN,
            call,
            details={"customers": [customer.public_id for customer in shown.customers]},
        )
        ctx.session.flush()
    return shown


def recent_calls(ctx: Context, keyring: Keyring) -> list[AgentCall]:
    """`ctx`'s agent's calls of the last `RECENT_PERIOD`, newest first, with their customers."""
    require(ctx.actor, Permission.LOG_CONTACTS)
    calls = ctx.session.scalars(
        sa.select(Call)
        .where(Call.agent_id == ctx.actor.staff_id, Call.started_at >= ctx.now - RECENT_PERIOD)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(MAX_RECENT_CALLS)
    )
    described = [_describe(ctx, keyring, call) for call in calls]
    shown = sorted({customer.public_id for row in described for customer in row.customers})
    audit.record(
        ctx,
        AuditAction.RECENT_CALLS_VIEWED,
        details={"calls": len(described), "customers": shown},
    )
    return described
