"""The unidentified queue: contacts linked to no customer yet, oldest first, paged by keyset,
searched by who they came from; and the same contacts offered on the page of a customer whose
phone or email they carry.

Who a contact came from (a caller's number, an email's sender, what a chatbot was told) lives
in the packages above this one, so the callers hand their answers in: `matching`, SELECTs of
contact ids (`pages.CONTACTS_FROM`). Contacts held for a restricted customer stay out for
everyone but the DPO, as in `services.visible_contact`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Channel, Contact
from cs_register.context import Context
from cs_register.customers import restriction
from cs_register.errors import ValidationFailed
from cs_register.identifiers import IdentifierError, normalise_email, normalise_phone
from cs_register.languages import N_
from cs_register.pages import ContactOrigin
from cs_register.permissions import Permission, require

PAGE_SIZE = 50
# A customer page offers at most this many; an agent links a few, not hundreds.
MAX_OFFERED = 20
MAX_SEARCH_VALUE = 254
# The search's kinds and their labels (English, marked for the catalogs; shown `|translated`).
SEARCH_KINDS = {"any": N_("Phone or email"), "phone": N_("Phone"), "email": N_("Email")}


@dataclass(frozen=True)
class QueueSearch:
    """A search of the queue: `value` normalised as the channels store it."""

    kind: str
    value: str


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue; the cursors are public ids of its first and last contact, set
    only when there is something before or after."""

    contacts: list[Contact]
    before: str | None
    after: str | None


def parse_search(kind: str, value: str) -> QueueSearch:
    """A typed phone number or email address, normalised; "any" tells them apart by the "@"."""
    text = (value or "").strip()
    if kind not in SEARCH_KINDS:
        message = N_("Choose what to search by.")
        raise ValidationFailed({"kind": [message]})
    if not text:
        message = N_("Type a phone number or an email address.")
        raise ValidationFailed({"value": [message]})
    if len(text) > MAX_SEARCH_VALUE:
        message = N_("The search text is too long.")
        raise ValidationFailed({"value": [message]})
    if kind == "any":
        kind = "email" if "@" in text else "phone"
    try:
        normalised = normalise_email(text) if kind == "email" else normalise_phone(text)
    except IdentifierError as problem:
        raise ValidationFailed({"value": [problem.message]}) from None
    return QueueSearch(kind=kind, value=normalised)


def parse_channel(raw: str | None) -> Channel | None:
    if not raw:
        return None
    try:
        return Channel(raw)
    except ValueError:
        message = N_("Choose email, phone or chatbot.")
        raise ValidationFailed({"channel": [message]}) from None


def _queue(ctx: Context) -> sa.Select[Contact]:
    query = sa.select(Contact).where(Contact.customer_id.is_(None))
    if not restriction.sees_restricted(ctx.actor):
        # Held for a restricted customer: only the DPO sees that it exists.
        query = query.where(Contact.held_for_customer_id.is_(None))
    return query


def _from_any(matching: Sequence[sa.Select[int]]) -> sa.ColumnElement[bool]:
    if not matching:
        return sa.false()
    return sa.or_(*(Contact.id.in_(select) for select in matching))


def _position(ctx: Context, public_id: str) -> tuple[datetime, int]:
    """The (time, id) of the contact a page cursor names, or a readable refusal."""
    row = ctx.session.execute(
        sa.select(Contact.occurred_at, Contact.id).where(Contact.public_id == public_id)
    ).first()
    if row is None:
        message = N_("That page of the queue no longer exists; start from the first page.")
        raise ValidationFailed({"page": [message]})
    return row.occurred_at, row.id


def _later(occurred_at: datetime, contact_id: int) -> sa.ColumnElement[bool]:
    """Queue order is (occurred_at, id); spelled out rather than a row-value comparison so
    the time binds with the column's own type."""
    return sa.or_(
        Contact.occurred_at > occurred_at,
        sa.and_(Contact.occurred_at == occurred_at, Contact.id > contact_id),
    )


def _earlier(occurred_at: datetime, contact_id: int) -> sa.ColumnElement[bool]:
    return sa.or_(
        Contact.occurred_at < occurred_at,
        sa.and_(Contact.occurred_at == occurred_at, Contact.id < contact_id),
    )


def _any(ctx: Context, query: sa.Select[Contact]) -> bool:
    return bool(ctx.session.scalar(sa.select(query.exists())))


def list_unlinked_page(
    ctx: Context,
    *,
    channel: Channel | None = None,
    matching: Sequence[sa.Select[int]] | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """A page of the queue, oldest first: from the start, after the contact `after` or before
    the contact `before` (public ids). Keyset paging on (occurred_at, id): a contact linked
    or arriving meanwhile neither repeats a row nor skips one. `matching` None: no search."""
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    query = _queue(ctx)
    if channel is not None:
        query = query.where(Contact.channel == channel)
    if matching is not None:
        query = query.where(_from_any(matching))
    if before:
        rows = list(
            ctx.session.scalars(
                query.where(_earlier(*_position(ctx, before)))
                .order_by(Contact.occurred_at.desc(), Contact.id.desc())
                .limit(limit + 1)
            )
        )
        contacts = list(reversed(rows[:limit]))
        more_before = len(rows) > limit
        more_after = bool(contacts) and _any(
            ctx, query.where(_later(contacts[-1].occurred_at, contacts[-1].id))
        )
    else:
        forward = query.where(_later(*_position(ctx, after))) if after else query
        rows = list(
            ctx.session.scalars(forward.order_by(Contact.occurred_at, Contact.id).limit(limit + 1))
        )
        contacts = rows[:limit]
        more_after = len(rows) > limit
        # Came forward from a cursor: is anything still there before this page?
        more_before = bool(after and contacts) and _any(
            ctx, query.where(_earlier(contacts[0].occurred_at, contacts[0].id))
        )
    return QueuePage(
        contacts=contacts,
        before=contacts[0].public_id if more_before else None,
        after=contacts[-1].public_id if more_after else None,
    )


def record_search(
    ctx: Context,
    search: QueueSearch,
    *,
    channel: Channel | None,
    matching: Sequence[sa.Select[int]],
) -> int:
    """Audit a search of the queue like a customer search: its kind and how many contacts it
    found, never the value. Returns that number."""
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    query = _queue(ctx).where(_from_any(matching))
    if channel is not None:
        query = query.where(Contact.channel == channel)
    found = ctx.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    audit.record(
        ctx,
        AuditAction.UNLINKED_CONTACTS_SEARCHED,
        details={"kind": search.kind, "results": found},
    )
    return found


def offered_contacts(
    ctx: Context, *, matching: Sequence[sa.Select[int]], limit: int = MAX_OFFERED
) -> list[Contact]:
    """The unlinked contacts that carry a customer's phone or email, oldest first: offered on
    their page to whoever may link contacts (no audit: the page audits its own viewing)."""
    require(ctx.actor, Permission.LOG_CONTACTS)
    if not matching:
        return []
    query = _queue(ctx).where(_from_any(matching))
    return list(ctx.session.scalars(query.order_by(Contact.occurred_at, Contact.id).limit(limit)))


def merge_origins(
    answers: Iterable[Mapping[int, Sequence[ContactOrigin]]],
) -> dict[int, list[ContactOrigin]]:
    """The providers' answers (`pages.CONTACT_ORIGINS`) as one mapping, duplicates dropped."""
    merged: dict[int, list[ContactOrigin]] = {}
    for answer in answers:
        for contact_id, origins in answer.items():
            found = merged.setdefault(contact_id, [])
            found.extend(origin for origin in origins if origin not in found)
    return merged
