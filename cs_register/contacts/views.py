"""Agent console: log contacts, verification panel, edit contacts, link unidentified contacts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.clock import local_input_value
from cs_register.contacts import editing, queue_views, relinking, services
from cs_register.contacts.models import VERIFIABLE_IDENTIFIERS, Channel, Contact, Direction
from cs_register.contacts.queue_views import origins_of
from cs_register.customers.models import Customer
from cs_register.customers.search import find_customers, record_search, run_console_search
from cs_register.customers.services import get_visible_customer
from cs_register.db import get_session, reading
from cs_register.errors import Conflict, ValidationFailed
from cs_register.free_text import echo_safely
from cs_register.identifiers import IDENTIFIER_LABELS
from cs_register.permissions import Permission
from cs_register.web import current_keyring, now, requires, staff_context

blueprint = Blueprint("contacts", __name__, template_folder="templates")
# The unidentified queue and its search live in their own module, on this blueprint.
queue_views.register(blueprint)

# The link form offers the searches an agent on a call reaches for first, first.
# Form fields of the new-contact form that may be shown again after a failed submit.
_CONTACT_FIELDS = ("channel", "direction", "occurred_at", "subject", "notes", "customer")


def _template_context() -> dict[str, Any]:
    return {
        "channels": list(Channel),
        "directions": list(Direction),
        "identifiers": [(name, IDENTIFIER_LABELS[name]) for name in VERIFIABLE_IDENTIFIERS],
    }


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
    flash(gettext("Contact logged."), "success")
    return redirect(url_for("contacts.contact_page", public_id=contact.public_id))


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
    flash(gettext("Verification recorded."), "success")
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
    flash(gettext("Contact saved.") if changed else gettext("Nothing was changed."), "success")
    return redirect(url_for("contacts.contact_page", public_id=public_id), 303)


def _render_link_page(
    contact: Contact,
    *,
    search: dict[str, str],
    candidates: list[services.CandidateCustomer] | None = None,
    prefilled: bool = False,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    page = render_template(
        "contacts/link.html",
        contact=contact,
        origins=origins_of(get_session(), [contact.id]).get(contact.id, []),
        kinds=services.link_search_kinds(),
        search=search,
        candidates=candidates,
        prefilled=prefilled,
        errors=errors or {},
    )
    return page, status


def _prefilled_link_page(public_id: str) -> Any:
    """The link form, started with every customer who matches who the contact came from (its
    caller's number, its sender, what the chatbot was told): the agent picks one. Each search
    is audited like one the agent typed.

    Everything is read first, in a read-only transaction (`db.reading`): on SQLite the
    searches never hold the writers' turn. The viewing and the searches are then audited in
    the request's unit of work, before anything is shown."""
    ctx, keyring, session = staff_context(), current_keyring(), get_session()
    found: dict[int, Customer] = {}
    searched: list[tuple[str, int]] = []
    with reading(session):
        contact = services.get_contact(ctx, public_id=public_id)
        origins = [
            origin
            for origin in origins_of(session, [contact.id]).get(contact.id, [])
            if origin.value is not None
        ]
        for origin in origins if contact.customer_id is None else []:
            assert origin.value is not None  # noqa: S101 - filtered above
            kind, customers = find_customers(ctx, keyring, kind=origin.kind, value=origin.value)
            searched.append((kind, len(customers)))
            for customer in customers:
                found.setdefault(customer.id, customer)
    services.view_contact(ctx, public_id=public_id)
    for kind, count in searched:
        record_search(ctx, kind, count)
    if not searched:
        return _render_link_page(contact, search={"kind": "phone", "value": ""})
    first = origins[0]
    return _render_link_page(
        contact,
        search={"kind": first.kind, "value": first.display},
        candidates=services.describe_candidates(keyring, list(found.values())),
        prefilled=True,
    )


@blueprint.route("/contacts/<public_id>/link", methods=["GET", "POST"])
@requires(Permission.LOG_CONTACTS)
def link_contact(public_id: str) -> Any:
    if request.method == "GET":
        return _prefilled_link_page(public_id)
    if request.form.get("action") == "link":
        customer_public_id = request.form.get("customer", "")
        contact = services.link_contact(
            staff_context(),
            contact_public_id=public_id,
            customer_public_id=customer_public_id,
        )
        # No name in the flash: flashes travel in the session cookie.
        if request.form.get("back") == "customer":
            # Linked from the offer on the customer's page: back there, for the next one.
            flash(gettext("Contact linked to this customer."), "success")
            return redirect(url_for("customers.customer_page", public_id=customer_public_id))
        flash(gettext("Contact linked to the chosen customer."), "success")
        return redirect(url_for("contacts.contact_page", public_id=contact.public_id))

    kind = request.form.get("kind", "")
    value = request.form.get("value", "")
    # An identity code is never written back into the page, not even into its own input.
    search = {"kind": kind, "value": "" if kind == "identity_code" else echo_safely(value)}
    try:
        # First, before this request reads anything else: the search then reads outside any
        # write transaction and commits its audit row alone (`run_console_search`), so on
        # SQLite a slow search never holds the writers' turn.
        customers = run_console_search(staff_context(), current_keyring(), kind=kind, value=value)
    except ValidationFailed as failure:
        contact = services.get_contact(staff_context(), public_id=public_id)
        return _render_link_page(contact, search=search, errors=failure.errors, status=422)
    contact = services.get_contact(staff_context(), public_id=public_id)
    return _render_link_page(
        contact,
        search=search,
        candidates=services.describe_candidates(current_keyring(), customers),
    )
