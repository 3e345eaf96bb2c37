"""The unidentified queue's pages (on the contacts blueprint, `register`): the list with who
each contact came from, its search and paging, and the customer page's offer of the contacts
that carry the customer's phone or email.

Who a contact came from is held by the packages above this one; they answer through
`pages.CONTACT_ORIGINS` and `pages.CONTACTS_FROM`, wired in `create_app`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.contacts import queue, queue_search
from cs_register.contacts.models import Channel, Contact
from cs_register.customers.models import Customer
from cs_register.db import get_session
from cs_register.errors import ValidationFailed
from cs_register.free_text import echo_safely
from cs_register.identifiers import format_phone_local
from cs_register.pages import ContactOrigin
from cs_register.permissions import Permission, has_permission
from cs_register.web import current_keyring, current_staff, now, requires, staff_context


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/contacts/unlinked", view_func=unlinked, methods=["GET"])
    blueprint.add_url_rule("/contacts/unlinked/search", view_func=search_unlinked, methods=["POST"])


def format_age(age: timedelta) -> str:
    """How long a contact has waited, in the one unit that matters at a glance."""
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        return gettext("%(num)d min", num=minutes)
    if minutes < 48 * 60:
        return gettext("%(num)d h", num=minutes // 60)
    return gettext("%(num)d d", num=minutes // (24 * 60))


def origins_of(session: Session, contact_ids: Sequence[int]) -> dict[int, list[ContactOrigin]]:
    """Who each contact came from, from every registered source, in one query per source."""
    return queue.merge_origins(pages.collect(pages.CONTACT_ORIGINS, session, list(contact_ids)))


def contacts_from(kind: str, value: str) -> list[sa.Select[int]]:
    """The unlinked contacts every registered source knows to come from `value`."""
    return pages.collect(pages.CONTACTS_FROM, kind, value)


def _shown(search: queue.QueueSearch) -> str:
    return format_phone_local(search.value) if search.kind == "phone" else search.value


def _render_queue(
    *,
    page: queue.QueuePage | None,
    channel: Channel | None,
    token: str | None = None,
    kind: str = "any",
    typed: str = "",
    notice: str | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    contacts = page.contacts if page is not None else []
    origins = origins_of(get_session(), [contact.id for contact in contacts])
    current = now()
    rows = [
        (contact, format_age(current - contact.occurred_at), origins.get(contact.id, []))
        for contact in contacts
    ]
    return (
        render_template(
            "contacts/unlinked.html",
            rows=rows,
            page=page,
            channel=channel,
            channels=list(Channel),
            kinds=queue.SEARCH_KINDS,
            kind=kind,
            typed=typed,
            token=token,
            notice=notice,
            errors=errors or {},
        ),
        status,
    )


@requires(Permission.VIEW_CUSTOMERS)
def unlinked() -> Any:
    ctx = staff_context()
    token = request.args.get("search") or None
    search = None
    notice = None
    if token is not None:
        search = queue_search.recall(current_keyring(), ctx.actor.staff_id, token)
        if search is None:
            # Forgotten (a newer search pushed it out, another session's link): say so rather
            # than silently showing the whole queue as if it were the results.
            notice = gettext("That search is no longer available here; search again.")
            token = None
    try:
        channel = queue.parse_channel(request.args.get("channel"))
    except ValidationFailed as failure:
        return _render_queue(page=None, channel=None, errors=failure.errors, status=422)
    try:
        page = queue.list_unlinked_page(
            ctx,
            channel=channel,
            matching=contacts_from(search.kind, search.value) if search is not None else None,
            after=request.args.get("after") or None,
            before=request.args.get("before") or None,
            limit=queue.PAGE_SIZE,
        )
    except ValidationFailed as failure:
        return _render_queue(
            page=None, channel=channel, token=token, errors=failure.errors, status=422
        )
    return _render_queue(
        page=page,
        channel=channel,
        token=token,
        kind=search.kind if search is not None else "any",
        typed=_shown(search) if search is not None else "",
        notice=notice,
    )


@requires(Permission.VIEW_CUSTOMERS)
def search_unlinked() -> Any:
    """POST, then redirect to the results by token: the value stays out of every URL, and
    the results page is an ordinary GET that Back and reload return to."""
    ctx = staff_context()
    kind = request.form.get("kind", "any")
    value = request.form.get("value", "")
    try:
        channel = queue.parse_channel(request.form.get("channel"))
        search = queue.parse_search(kind, value)
    except ValidationFailed as failure:
        return _render_queue(
            page=queue.list_unlinked_page(ctx),
            channel=None,
            kind=kind if kind in queue.SEARCH_KINDS else "any",
            typed=echo_safely(value),
            errors=failure.errors,
            status=422,
        )
    queue.record_search(
        ctx, search, channel=channel, matching=contacts_from(search.kind, search.value)
    )
    token = queue_search.remember(current_keyring(), ctx.actor.staff_id, search)
    target = url_for(
        "contacts.unlinked", search=token, channel=channel.value if channel is not None else None
    )
    return redirect(target, 303)


def customer_offer_panel(session: Session, customer: Customer, current: datetime) -> Markup | None:
    """On a customer's page (`pages.CUSTOMER_PAGE_PANELS`): the unidentified contacts that
    carry their phone or email, each a click away from being linked to them. So creating a
    customer, or correcting their phone or email, brings their waiting contacts along.

    Only for staff who may link contacts; not audited here, the page audits its own viewing.
    """
    staff = current_staff()
    if not has_permission(staff, Permission.LOG_CONTACTS):
        return None
    matching: list[sa.Select[int]] = []
    if customer.phone_e164:
        matching += contacts_from("phone", customer.phone_e164)
    if customer.email:
        matching += contacts_from("email", customer.email)
    contacts: list[Contact] = queue.offered_contacts(staff_context(), matching=matching)
    if not contacts:
        return None
    origins = origins_of(session, [contact.id for contact in contacts])
    rows = [(contact, origins.get(contact.id, [])) for contact in contacts]
    return pages.render_panel(
        "contacts/_offered_contacts.html",
        customer=customer,
        rows=rows,
        limit=queue.MAX_OFFERED,
    )
