"""Contacts: logging an interaction, the identity checks made during it, and linking contacts
that arrived unidentified to the customer they turned out to be.

Every service takes a `Context`; it checks the actor's role, validates everything before
writing anything (the form rules are in `contacts.validation`), flushes but never commits, and
writes its audit rows into the same session, so a change and its audit trail commit or roll back
together.

Verification before linking: an agent often checks the caller's identifiers against a customer
record first and only then links the contact (or links it later from the unidentified queue).
So a verification may be recorded on a contact that has no customer yet; it describes what was
checked during that contact, and stays with the contact when it is linked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.incoming import advance_last_contact, record_incoming_contact
from cs_register.contacts.models import (
    VERIFIABLE_IDENTIFIERS,
    Channel,
    Contact,
    Direction,
    IdentityVerification,
)
from cs_register.contacts.validation import (
    VerificationInput,
    form_text,
    parse_choice,
    parse_verification,
    validate_notes,
    validate_occurred_at,
    validate_subject,
    validate_verification,
)
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from cs_register.customers.services import get_visible_customer, masked_identity_code
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.identifiers import IDENTIFIER_LABELS, IdentifierError, format_phone_local
from cs_register.languages import N_
from cs_register.lookup import by_public_id
from cs_register.permissions import Permission, Principal, require
from cs_register.staff.models import StaffUser

T = TypeVar("T")


@dataclass(frozen=True)
class CandidateCustomer:
    """One search result on the link page: enough to tell people apart, the code masked."""

    public_id: str
    name: str
    masked_identity_code: str | None
    phone: str | None
    email: str | None
    city: str | None


@dataclass(frozen=True)
class ContactOverview:
    """Everything the contact page shows, resolved once so templates need no queries."""

    contact: Contact
    customer: Customer | None
    handled_by: str
    linked_by: str | None
    verified_by: dict[int, str]


# --- lookups ------------------------------------------------------------------------------


def _find_contact(session: Session, public_id: str) -> Contact:
    return by_public_id(session, Contact, public_id, missing="No such contact.")


def visible_contact(ctx: Context, public_id: str) -> Contact:
    """The contact, unless it belongs to a customer `ctx`'s actor may not see (restricted):
    then it does not exist for them either."""
    contact = _find_contact(ctx.session, public_id)
    if contact.held_for_customer_id is not None and not restriction.sees_restricted(ctx.actor):
        raise NotFound("No such contact.")
    if contact.customer_id is not None and not restriction.sees_restricted(ctx.actor):
        customer = ctx.session.get(Customer, contact.customer_id)
        if customer is not None and customer.is_restricted:
            raise NotFound("No such contact.")
    return contact


def listed_for(actor: Principal | None) -> sa.ColumnElement[bool]:
    """A WHERE clause on `Contact` for lists: the rule `visible_contact` applies to one
    contact (none held for, or linked to, a restricted customer unless `actor` sees them)."""
    if restriction.sees_restricted(actor):
        return sa.true()
    restricted = sa.exists().where(
        Customer.id == Contact.customer_id, Customer.restricted_at.is_not(None)
    )
    return sa.and_(Contact.held_for_customer_id.is_(None), ~restricted)


def get_contact(ctx: Context, *, public_id: str) -> Contact:
    """A contact by public id, without an audit row: for pages that show no more than its
    channel, time and subject (the full contact page goes through `view_contact`)."""
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    return visible_contact(ctx, public_id)


def customer_timeline(session: Session, customer_id: int) -> Sequence[Contact]:
    """A customer's contacts, newest first, with their verifications."""
    return session.scalars(
        sa.select(Contact)
        .where(Contact.customer_id == customer_id)
        .order_by(Contact.occurred_at.desc(), Contact.id.desc())
        .options(selectinload(Contact.verifications))
    ).all()


# --- writes -------------------------------------------------------------------------------


def _add_verification(
    ctx: Context,
    contact: Contact,
    verification: VerificationInput,
) -> IdentityVerification:
    session, now = ctx.session, ctx.now
    row = IdentityVerification(
        contact=contact,
        outcome=verification.outcome,
        verified_by_id=ctx.actor.staff_id,
        verified_at=now,
        **{f"checked_{name}": name in verification.checked for name in VERIFIABLE_IDENTIFIERS},
    )
    session.add(row)
    session.flush()
    audit.record(
        ctx,
        AuditAction.IDENTITY_VERIFIED,
        contact,
        details={"outcome": verification.outcome.value, "checked": list(verification.checked)},
    )
    return row


def log_contact(
    ctx: Context,
    *,
    form: Mapping[str, str | None],
    customer_public_id: str | None = None,
) -> Contact:
    """Log one contact handled by `actor`, with the verification panel's result.

    Without `customer_public_id` the contact is logged unidentified and waits in the
    unidentified queue. The panel is always recorded, 'not attempted' included: whether the
    caller was verified before anything was disclosed is itself worth knowing later.
    """
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.LOG_CONTACTS)
    errors: dict[str, list[str]] = {}

    def check(field: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except IdentifierError as exc:
            errors.setdefault(field, []).append(exc.message)
            return None

    channel = check(
        "channel", lambda: parse_choice(form_text(form, "channel"), Channel, N_("Channel"))
    )
    direction = check(
        "direction", lambda: parse_choice(form_text(form, "direction"), Direction, N_("Direction"))
    )
    occurred_at = check(
        "occurred_at", lambda: validate_occurred_at(form_text(form, "occurred_at"), now=now)
    )
    subject = check(
        "subject",
        lambda: validate_subject(form.get("subject") or ""),
    )
    notes = check("notes", lambda: validate_notes(form.get("notes") or ""))
    verification = parse_verification(form, errors, allow_not_attempted=True)
    if (
        errors
        or channel is None
        or direction is None
        or occurred_at is None
        or subject is None
        or notes is None
        or verification is None
    ):
        raise ValidationFailed(errors)

    # Resolved before anything is added, so an unknown customer leaves nothing behind.
    customer = get_visible_customer(ctx, customer_public_id) if customer_public_id else None
    incoming = record_incoming_contact(
        ctx,
        channel=channel,
        direction=direction,
        occurred_at=occurred_at,
        subject=subject,
        notes=notes,
        customer_id=customer.id if customer is not None else None,
        handled_by_id=ctx.actor.staff_id,
    )
    contact = session.get(Contact, incoming.id)
    assert contact is not None  # noqa: S101 - inserted just above
    details: dict[str, object] = {
        "channel": channel.value,
        "direction": direction.value,
        "linked": customer is not None,
    }
    if customer is not None:
        details["customer"] = customer.public_id
    audit.record(ctx, AuditAction.CONTACT_CREATED, contact, details=details)
    _add_verification(ctx, contact, verification)
    return contact


def record_verification(
    ctx: Context,
    *,
    contact_public_id: str,
    form: Mapping[str, str | None],
) -> IdentityVerification:
    """Record a later identity check on an existing contact (e.g. a call-back).

    Same rules as the panel, except that 'not attempted' is refused: adding a check that was
    not made records nothing.
    """
    require(ctx.actor, Permission.LOG_CONTACTS)
    contact = visible_contact(ctx, contact_public_id)
    verification = validate_verification(form, allow_not_attempted=False)
    return _add_verification(ctx, contact, verification)


def link_contact(
    ctx: Context,
    *,
    contact_public_id: str,
    customer_public_id: str,
) -> Contact:
    """Link an unidentified contact to the customer the agent chose.

    A contact already linked to someone else cannot be moved here (409): that is a correction
    of someone's history and needs its own reviewed procedure. Linking again to the same
    customer is a harmless repeat (a double-clicked button) and changes nothing.
    """
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.LOG_CONTACTS)
    contact = visible_contact(ctx, contact_public_id)
    customer = get_visible_customer(ctx, customer_public_id)
    if contact.customer_id is not None:
        if contact.customer_id == customer.id:
            return contact
        raise Conflict("This contact is already linked to a customer and cannot be re-linked.")
    contact.customer_id = customer.id
    contact.linked_at = now
    contact.linked_by_id = ctx.actor.staff_id
    advance_last_contact(session, customer.id, contact.occurred_at)
    session.flush()
    audit.record(ctx, AuditAction.CONTACT_LINKED, contact, details={"customer": customer.public_id})
    return contact


# --- reads --------------------------------------------------------------------------------


def view_contact(
    ctx: Context,
    *,
    public_id: str,
) -> Contact:
    """A contact for its full page (notes, verifications, customer); the viewing is audited."""
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    contact = visible_contact(ctx, public_id)
    audit.record(ctx, AuditAction.CONTACT_VIEWED, contact)
    return contact


def describe_contact(session: Session, contact: Contact) -> ContactOverview:
    """Resolve the customer and staff names a contact page shows (no audit: the caller has
    already audited the view through `view_contact`)."""
    staff_ids = {contact.handled_by_id, contact.linked_by_id} | {
        row.verified_by_id for row in contact.verifications
    }
    names = {
        user.id: user.display_name
        for user in session.scalars(
            sa.select(StaffUser).where(StaffUser.id.in_([i for i in staff_ids if i is not None]))
        )
    }
    customer = session.get(Customer, contact.customer_id) if contact.customer_id else None
    return ContactOverview(
        contact=contact,
        customer=customer,
        handled_by=names.get(contact.handled_by_id or -1, "unknown"),
        linked_by=names.get(contact.linked_by_id) if contact.linked_by_id else None,
        verified_by={
            row.id: names.get(row.verified_by_id, "unknown") for row in contact.verifications
        },
    )


def unlinked_contacts() -> sa.Select[int]:
    """The ids of contacts linked to no customer (the unidentified queue), to match against:
    what a source holds about an unlinked contact may still be about a person."""
    return sa.select(Contact.id).where(Contact.customer_id.is_(None))


def list_unlinked_contacts(ctx: Context, *, limit: int = 100) -> list[Contact]:
    """The unidentified queue: contacts with no customer yet, oldest first."""
    session = ctx.session
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    query = (
        sa.select(Contact)
        .where(Contact.customer_id.is_(None))
        .order_by(Contact.occurred_at, Contact.id)
        .limit(limit)
    )
    if not restriction.sees_restricted(ctx.actor):
        # Held for a restricted customer: only the DPO sees that it exists.
        query = query.where(Contact.held_for_customer_id.is_(None))
    return list(session.scalars(query))


def release_held_contacts(ctx: Context, *, customer: Customer) -> int:
    """Link the contacts held while the customer was restricted to them, as intake would
    have (the restriction was lifted); returns how many."""
    customer_id = customer.id
    held = ctx.session.scalars(
        sa.select(Contact).where(Contact.held_for_customer_id == customer_id).order_by(Contact.id)
    ).all()
    for contact in held:
        audit.record(
            ctx,
            AuditAction.CONTACT_LINKED,
            contact,
            details={"customer": customer.public_id, "restriction_lifted": True},
        )
        contact.customer_id = customer_id
        contact.held_for_customer_id = None
        contact.linked_at = ctx.now
        contact.linked_by_id = ctx.actor.staff_id
        advance_last_contact(ctx.session, customer_id, contact.occurred_at)
    ctx.session.flush()
    return len(held)


# The search a link page offers, phone first: the usual identifier of an unidentified call.
LINK_SEARCH_KINDS = ("phone", "email", "name", "identity_code")


def link_search_kinds() -> list[tuple[str, str]]:
    return [(kind, IDENTIFIER_LABELS[kind]) for kind in LINK_SEARCH_KINDS]


def describe_candidates(keyring: Keyring, customers: list[Customer]) -> list[CandidateCustomer]:
    """Search results for the link page. The agent picks one; nothing is chosen here."""
    return [
        CandidateCustomer(
            public_id=customer.public_id,
            name=customer.full_name,
            masked_identity_code=masked_identity_code(keyring, customer),
            phone=format_phone_local(customer.phone_e164) if customer.phone_e164 else None,
            email=customer.email,
            city=customer.city,
        )
        for customer in customers
    ]
