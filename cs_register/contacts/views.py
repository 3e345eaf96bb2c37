"""Agent console: log contacts, verification panel, edit contacts, link unidentified contacts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.clock import local_input_value
from cs_register.contacts import editing, relinking, services
from cs_register.contacts.models import VERIFIABLE_IDENTIFIERS, Channel, Direction
from cs_register.customers.models import Customer
from cs_register.customers.search import search_customers
from cs_register.customers.services import get_visible_customer
from cs_register.db import get_session
from cs_register.errors import Conflict, ValidationFailed
from cs_register.free_text import echo_safely
from cs_register.identifiers import IDENTIFIER_LABELS
from cs_register.permissions import Permission
from cs_register.web import current_keyring, now, requires, staff_context

blueprint = Blueprint("contacts", __name__, template_folder="templates")

# The link form offers the searches an agent on a call reaches for first, first.
# Form fields of the new-contact form that may be shown again after a failed submit.
_CONTACT_FIELDS = ("channel", "direction", "occurred_at", "subject", "notes", "customer")


def _template_context() -> dict[str, Any]:
    return {
        "channels": list(Channel),
        "directions": list(Direction),
        "identifiers": [(name, IDENTIFIER_LABELS[name]) for name in VERIFIABLE_IDENTIFIERS],
    }


def format_age(age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def _customer_for_form(public_id: str | None) -> Customer | None:
    return get_visible_customer(staff_context(), public_id) if public_id else None


@blueprint.route("/contacts/new", methods=["GET", "POST"])
@requires(Permission.LOG_CONTACTS)
def new_contact() -> Any:
    if request.method == "GET":
        customer = _customer_for_form(request.args.get("customer"))
        values = {
            "channel": Channel.PHONE.value,
            "direction": Direction.INBOUND.value,
            "occurred_at": local_input_value(now()),
            "verification_outcome": "not_attempted",
        }
        return render_template(
            "contacts/new.html",
            customer=customer,
            values=values,
            errors={},
            **_template_context(),
        )
    customer_public_id = request.form.get("customer") or None
    try:
        contact = services.log_contact(
            staff_context(), form=request.form, customer_public_id=customer_public_id
        )
    except ValidationFailed as failure:
        values = {name: echo_safely(request.form.get(name, "")) for name in _CONTACT_FIELDS}
        values["verification_outcome"] = request.form.get("verification_outcome", "")
        for name in VERIFIABLE_IDENTIFIERS:
            values[f"verify_{name}"] = request.form.get(f"verify_{name}", "")
        return (
            render_template(
                "contacts/new.html",
                customer=_customer_for_form(customer_public_id),
                values=values,
                errors=failure.errors,
                **_template_context(),
            ),
            422,
        )
    flash("Contact logged.", "success")
    return redirect(url_for("contacts.contact_page", public_id=contact.public_id))


@blueprint.get("/contacts/unlinked")
@requires(Permission.VIEW_CUSTOMERS)
def unlinked() -> Any:
    contacts = services.list_unlinked_contacts(staff_context())
    current = now()
    rows = [(contact, format_age(current - contact.occurred_at)) for contact in contacts]
    return render_template("contacts/unlinked.html", rows=rows)


def render_contact_page(
    public_id: str,
    *,
    errors: dict[str, list[str]],
    values: dict[str, str],
    extra: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Any:
    """The contact page, with the panels other packages provide (`pages.CONTACT_PAGE_PANELS`).

    `extra` reaches those panels: a failed recording upload re-shows the page with its errors.
    Registered as the `pages.CONTACT_PAGE` renderer, so such packages need not import this one.
    """
    session = get_session()
    current = now()
    contact = services.view_contact(staff_context(), public_id=public_id)
    overview = services.describe_contact(session, contact)
    panels = pages.collect(pages.CONTACT_PAGE_PANELS, session, contact, current, extra or {})
    return (
        render_template(
            "contacts/contact.html",
            overview=overview,
            link_history=relinking.link_history(session, contact.id),
            changes=editing.contact_history(session, contact.id),
            contact=contact,
            errors=errors,
            values=values,
            labels=IDENTIFIER_LABELS,
            panels=panels,
            **_template_context(),
        ),
        status,
    )


def customer_timeline_panel(session: Session, customer: Customer, current: datetime) -> Markup:
    """The customer page's contact timeline (`pages.CUSTOMER_PAGE_PANELS`), newest first.

    Not audited here: the customer page audits its own viewing.
    """
    timeline = services.customer_timeline(session, customer.id)
    notes: dict[int, list[Markup]] = {}
    for answer in pages.collect(
        pages.CONTACT_TIMELINE_NOTES, session, [contact.id for contact in timeline], current
    ):
        for contact_id, note in answer.items():
            notes.setdefault(contact_id, []).append(note)
    return pages.render_panel("contacts/_customer_timeline.html", timeline=timeline, notes=notes)


@blueprint.get("/contacts/<public_id>")
@requires(Permission.VIEW_CUSTOMERS)
def contact_page(public_id: str) -> Any:
    return render_contact_page(public_id, errors={}, values={})


@blueprint.post("/contacts/<public_id>/verifications")
@requires(Permission.LOG_CONTACTS)
def record_verification(public_id: str) -> Any:
    try:
        services.record_verification(
            staff_context(), contact_public_id=public_id, form=request.form
        )
    except ValidationFailed as failure:
        values = {name: echo_safely(request.form.get(name, "")) for name in request.form}
        return render_contact_page(public_id, errors=failure.errors, values=values, status=422)
    flash("Verification recorded.", "success")
    return redirect(url_for("contacts.contact_page", public_id=public_id))


def _render_edit_page(
    public_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    conflict: str | None = None,
    status: int = 200,
) -> Any:
    """The edit form, filled with the stored text or with what the agent typed (after a
    refusal); after a conflict, the other person's saved version is shown beside it."""
    contact = services.view_contact(staff_context(), public_id=public_id)
    stored = {"subject": contact.subject, "notes": contact.notes}
    return render_template(
        "contacts/edit.html",
        contact=contact,
        values=values if values is not None else stored,
        stored=stored,
        revision=editing.revision_count(get_session(), contact.id),
        errors=errors or {},
        conflict=conflict,
    ), status


@blueprint.route("/contacts/<public_id>/edit", methods=["GET", "POST"])
@requires(Permission.LOG_CONTACTS)
def edit_contact(public_id: str) -> Any:
    if request.method == "GET":
        return _render_edit_page(public_id)
    typed = {name: request.form.get(name, "") for name in ("subject", "notes")}
    try:
        changed = editing.edit_contact(
            staff_context(),
            contact_public_id=public_id,
            revision=request.form.get("revision", ""),
            **typed,
        )
    except ValidationFailed as failure:
        values = {name: echo_safely(value) for name, value in typed.items()}
        return _render_edit_page(public_id, values=values, errors=failure.errors, status=422)
    except Conflict as conflict:
        # What the agent typed is kept; the form now carries the new revision, so saving
        # again is a deliberate choice to replace the other person's version.
        values = {name: echo_safely(value) for name, value in typed.items()}
        return _render_edit_page(public_id, values=values, conflict=conflict.detail, status=409)
    flash("Contact saved." if changed else "Nothing was changed.", "success")
    return redirect(url_for("contacts.contact_page", public_id=public_id), 303)


def _render_link_page(
    contact: Any,
    *,
    search: dict[str, str],
    candidates: list[services.CandidateCustomer] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    page = render_template(
        "contacts/link.html",
        contact=contact,
        kinds=services.link_search_kinds(),
        search=search,
        candidates=candidates,
        errors=errors or {},
    )
    return page, status


@blueprint.route("/contacts/<public_id>/link", methods=["GET", "POST"])
@requires(Permission.LOG_CONTACTS)
def link_contact(public_id: str) -> Any:
    if request.method == "GET":
        contact = services.view_contact(staff_context(), public_id=public_id)
        return _render_link_page(contact, search={"kind": "phone", "value": ""})
    if request.form.get("action") == "link":
        contact = services.link_contact(
            staff_context(),
            contact_public_id=public_id,
            customer_public_id=request.form.get("customer", ""),
        )
        # No name in the flash: flashes travel in the session cookie.
        flash("Contact linked to the chosen customer.", "success")
        return redirect(url_for("contacts.contact_page", public_id=contact.public_id))

    contact = services.get_contact(staff_context(), public_id=public_id)
    kind = request.form.get("kind", "")
    value = request.form.get("value", "")
    # An identity code is never written back into the page, not even into its own input.
    search = {"kind": kind, "value": "" if kind == "identity_code" else echo_safely(value)}
    try:
        customers = search_customers(staff_context(), current_keyring(), kind=kind, value=value)
    except ValidationFailed as failure:
        return _render_link_page(contact, search=search, errors=failure.errors, status=422)
    return _render_link_page(
        contact,
        search=search,
        candidates=services.describe_candidates(current_keyring(), customers),
    )
