"""Finding customers: the console's search (name prefix, exact phone, email or identity code)
and the one rule every channel uses for "the customer this contact belongs to".

Every match is returned to the agent, who chooses; an incoming contact is linked only when
exactly one customer matches.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.clock import local_today
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from cs_register.customers.services import customers_with_identity_code
from cs_register.db import reading
from cs_register.errors import DomainError, ValidationFailed
from cs_register.identifiers import (
    IdentifierError,
    looks_like_identity_code,
    normalise_email,
    normalise_identity_code,
    normalise_phone,
    normalise_text,
    search_key,
)
from cs_register.languages import N_, Message
from cs_register.permissions import Permission, require

log = logging.getLogger(__name__)

SEARCH_KINDS = ("name", "phone", "email", "identity_code")
# The console's one search box: the kind is recognised from what was typed.
ANY_KIND = "any"
# A phone number as agents type or paste it: digits with spaces, dashes, dots or brackets,
# an international "+" or "00" in front, at least six digits in all.
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]+")


MAX_SEARCH_RESULTS = 50


MIN_NAME_PREFIX = 2


MAX_SEARCH_VALUE = 254


def _search_query(kind: str, value: str) -> sa.Select[Customer]:
    """The query for a phone or email search; raises IdentifierError on bad input."""
    query = sa.select(Customer).order_by(Customer.name_key_family_first, Customer.id)
    if kind == "phone":
        return query.where(Customer.phone_e164 == normalise_phone(value))
    return query.where(Customer.email == normalise_email(value))


def _name_prefix(value: str) -> str:
    prefix = search_key(normalise_text(value, label=N_("Name"), max_length=200))
    if len(prefix) < MIN_NAME_PREFIX:
        raise IdentifierError(
            Message("Type at least %(minimum)d letters of the name.", minimum=MIN_NAME_PREFIX)
        )
    return prefix


def _customers_named(
    session: Session, prefix: str, visible: sa.ColumnElement[bool]
) -> list[Customer]:
    """Customers whose name, family name first or given name first, starts with `prefix`.

    Each order is a range on its key's index (keys are folded and compared byte by byte), read
    in index order up to the result limit, so the cost follows the results, not the register:
    `LIKE 'prefix%'` could use neither index on either database. The two short lists are
    merged and shown in family-name order.
    """
    found: dict[int, Customer] = {}
    for key in (Customer.name_key_family_first, Customer.name_key_given_first):
        in_range = sa.and_(key >= prefix, key < prefix + "\uffff")
        query = sa.select(Customer).where(in_range, visible).order_by(key, Customer.id)
        for customer in session.scalars(query.limit(MAX_SEARCH_RESULTS)):
            found.setdefault(customer.id, customer)
    ordered = sorted(found.values(), key=lambda c: (c.name_key_family_first, c.id))
    return ordered[:MAX_SEARCH_RESULTS]


def recognise_kind(value: str) -> str:
    """What a value typed into the one search box is: an email address (it has an "@"), an
    identity code (its shape), a phone number (only digits and separators, six digits or
    more) or else a name. The kind decides the search, and whether the value may be shown
    again (an identity code never is)."""
    text = value.strip()
    if "@" in text:
        return "email"
    if looks_like_identity_code(text):
        return "identity_code"
    if _PHONE_LIKE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 6:
        return "phone"
    return "name"


def check_search(kind: str, value: str, *, today: date) -> str:
    """The kind a search is (`kind`, or what "anything" recognises), if it can be run: the
    same checks the search makes, without reading or auditing anything. A form checks with it
    before it keeps the search for its results page."""
    if kind == ANY_KIND:
        kind = recognise_kind(value or "")
    if kind not in SEARCH_KINDS:
        message = N_("Choose what to search by.")
        raise ValidationFailed({"kind": [message]})
    value = (value or "").strip()
    if not value:
        message = N_("Type something to search for.")
        raise ValidationFailed({kind: [message]})
    if len(value) > MAX_SEARCH_VALUE:
        message = N_("The search text is too long.")
        raise ValidationFailed({kind: [message]})
    try:
        if kind == "identity_code":
            normalise_identity_code(value, today=today)
        elif kind == "name":
            _name_prefix(value)
        else:
            _search_query(kind, value)
    except IdentifierError as problem:
        raise ValidationFailed({kind: [problem.message]}) from None
    return kind


def search_customers(
    ctx: Context,
    keyring: Keyring,
    *,
    kind: str,
    value: str,
) -> list[Customer]:
    """Find customers by name prefix, or exactly by phone, email or identity code.

    Every match is returned (two people may share a phone); the caller chooses, never this
    function. At most `MAX_SEARCH_RESULTS`, ordered by family then given name. The audit row
    records the kind of search and the number of results, never the searched value.
    """
    searched, results = find_customers(ctx, keyring, kind=kind, value=value)
    record_search(ctx, searched, len(results))
    return results


class SearchNotRecorded(DomainError, status=503, title=N_("Service unavailable")):
    """A search's audit row could not be committed, so what it found is not shown."""


def run_console_search(ctx: Context, keyring: Keyring, *, kind: str, value: str) -> list[Customer]:
    """`search_customers` for a console request, in two short transactions of its own.

    The read is a read-only transaction (`db.reading`): on SQLite, however long it takes, it
    neither holds nor waits for the writers' turn. Then the audit row is committed alone. What
    was found is returned only once that commit succeeded; if it fails, `SearchNotRecorded`
    (and the caller shows nothing). When `ctx.session` already has a transaction open (the
    request read or wrote something first), the search joins it as `search_customers` does and
    commits with the request.
    """
    session = ctx.session
    if session.in_transaction():
        return search_customers(ctx, keyring, kind=kind, value=value)
    # A refused search is refused before anything is read.
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    check_search(kind, value, today=local_today(ctx.now))
    with reading(session):
        searched, results = find_customers(ctx, keyring, kind=kind, value=value)
    try:
        record_search(ctx, searched, len(results))
        session.commit()
    except sa.exc.SQLAlchemyError:
        session.rollback()
        log.exception(
            "a customer search could not be audited; its results were not shown",
            extra={"request_id": ctx.request_id},
        )
        raise SearchNotRecorded(
            N_(
                "The search could not be recorded in the audit trail, so its results are not"
                " shown. Try again in a moment."
            )
        ) from None
    return results


def record_search(ctx: Context, kind: str, found: int) -> None:
    """The search's audit row: its kind and how many it found, never what was searched for."""
    audit.record(ctx, AuditAction.CUSTOMER_SEARCHED, details={"kind": kind, "results": found})


def find_customers(
    ctx: Context, keyring: Keyring, *, kind: str, value: str
) -> tuple[str, list[Customer]]:
    """The reads of `search_customers`, auditing nothing: the kind searched (what "anything"
    was recognised as) and what was found. Its caller records the search (`record_search`)
    before showing any of it."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    kind = check_search(kind, value, today=local_today(now))
    value = value.strip()
    try:
        if kind == "identity_code":
            code = normalise_identity_code(value, today=local_today(now))
            results = [
                customer
                for customer in customers_with_identity_code(session, keyring, code)
                if not customer.is_restricted or restriction.sees_restricted(ctx.actor)
            ]
        elif kind == "name":
            results = _customers_named(
                session, _name_prefix(value), restriction.visible_to(ctx.actor)
            )
        else:
            query = (
                _search_query(kind, value)
                .where(restriction.visible_to(ctx.actor))
                .limit(MAX_SEARCH_RESULTS)
            )
            results = list(session.scalars(query).all())
    except IdentifierError as problem:
        raise ValidationFailed({kind: [problem.message]}) from None
    return kind, results


@dataclass(frozen=True)
class CustomerRef:
    id: int
    public_id: str


_customers_table = cast(sa.Table, Customer.__table__)


def _customers_by(column: sa.Column[str | None]) -> sa.Select[tuple[int, str, datetime | None]]:
    """The customers whose `column` equals the bound `value`; two rows are enough to know a
    match is ambiguous."""
    table = _customers_table.c
    matching = sa.select(table.id, table.public_id, table.restricted_at)
    return matching.where(column == sa.bindparam("value")).limit(2)


_CUSTOMERS_BY_EMAIL = _customers_by(_customers_table.c.email)
_CUSTOMERS_BY_PHONE = _customers_by(_customers_table.c.phone_e164)


@dataclass(frozen=True)
class IncomingMatch:
    """Whom an incoming contact belongs to: `customer` to link it to, or, when that one
    customer is restricted, `held_for` (their id): the contact waits unlinked for the DPO."""

    customer: CustomerRef | None = None
    held_for: int | None = None


def match_incoming(
    session: Session, *, email: str | None = None, phone: str | None = None
) -> IncomingMatch:
    """The one customer an incoming contact belongs to: the rule every channel uses.

    `email` and `phone` are normalised values (as stored). The email decides first; an email
    that matches several customers is ambiguous and is not overruled by the phone, since a
    guess would put one person's contact into another's history. Only then the phone, which
    must match exactly one customer too. A restricted customer is never linked to: the
    contact is held for them, seen only by the DPO (`cs_register.customers.restriction`).
    """
    connection = session.connection()
    for query, value in ((_CUSTOMERS_BY_EMAIL, email), (_CUSTOMERS_BY_PHONE, phone)):
        if value is None:
            continue
        rows = connection.execute(query, {"value": value}).all()
        if len(rows) == 1:
            if rows[0].restricted_at is not None:
                return IncomingMatch(held_for=rows[0].id)
            return IncomingMatch(customer=CustomerRef(id=rows[0].id, public_id=rows[0].public_id))
        if rows:
            return IncomingMatch()
    return IncomingMatch()
