"""Agent console: search, customer pages, create and edit (rectification).

Anything that carries personal data in the request (searches, identity code reveals) is a
POST, so none of it lands in URLs, browser history or access logs; a search's results are
then a GET naming the search by a token only (`cs_register.kept_searches`). After a failed
submit the form comes back with the user's input, except an identity code, never echoed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from cs_register import kept_searches, pages
from cs_register.clock import local_today
from cs_register.customers import rectification, services
from cs_register.customers.models import Customer
from cs_register.customers.rectification import FIELD_LABELS
from cs_register.customers.search import (
    ANY_KIND,
    SEARCH_KINDS,
    check_search,
    recognise_kind,
    run_console_search,
)
from cs_register.db import get_session
from cs_register.errors import ValidationFailed
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import IDENTIFIER_LABELS, format_phone_local
from cs_register.languages import N_
from cs_register.permissions import Permission
from cs_register.web import current_keyring, now, requires, staff_context

blueprint = Blueprint("customers", __name__, template_folder="templates")


def _contact_links() -> dict[str, bool]:
    """Which contacts pages exist, so templates link to them only when they can."""
    return {
        "new_contact": "contacts.new_contact" in current_app.view_functions,
        "contact_page": "contacts.contact_page" in current_app.view_functions,
    }


def _safe_echo(value: str) -> str:
    """`value` to write back into a form, or "" if it holds something like an identity code
    (a name or address with a code in it is typed again whole)."""
    return "" if contains_identity_code(value) else value


def _form_values(form: Mapping[str, str]) -> dict[str, str]:
    """The submitted customer fields to put back into the form, without any identity code."""
    return {
        name: _safe_echo(form.get(name, ""))
        for name in services.CUSTOMER_FIELDS
        if name != "identity_code"
    }


def _render_dashboard(
    *,
    kind: str = ANY_KIND,
    searched: str | None = None,
    value: str = "",
    results: list[dict[str, Any]] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    return (
        render_template(
            "customers/dashboard.html",
            kinds={
                ANY_KIND: N_("Anything (recognised)"),
                **{kind: IDENTIFIER_LABELS[kind] for kind in SEARCH_KINDS},
            },
            kind=kind,
            searched=searched or kind,
            value=value,
            results=results,
            errors=errors or {},
        ),
        status,
    )


# The kept search's page (`cs_register.kept_searches`): a token works only here.
_SEARCH_SLOT = "customer_search"


@blueprint.get("/customers")
@requires(Permission.VIEW_CUSTOMERS)
def dashboard() -> Any:
    """The search box, and the results of the search `?search=<token>` names: a GET, so Back
    and reload show the results again (and search again: each showing is audited)."""
    token = request.args.get("search")
    if not token:
        return _render_dashboard()
    ctx = staff_context()
    kept = kept_searches.recall(current_keyring(), ctx.actor.staff_id, _SEARCH_SLOT, token)
    if kept is None:
        flash(gettext("That search is no longer kept; search again."), "info")
        return _render_dashboard()
    kind, value = kept
    searched = recognise_kind(value) if kind == ANY_KIND else kind
    # An identity code is never written back into a page, not even into the search box.
    echo = "" if searched == "identity_code" else _safe_echo(value)
    try:
        # Read without SQLite's write lock, audited in a short transaction of its own.
        customers = run_console_search(ctx, current_keyring(), kind=kind, value=value)
    except ValidationFailed as failure:
        return _render_dashboard(
            kind=kind, searched=searched, value=echo, errors=failure.errors, status=422
        )
    results = [_result_row(customer) for customer in customers]
    return _render_dashboard(kind=kind, searched=searched, value=echo, results=results)


@blueprint.post("/customers/search")
@requires(Permission.VIEW_CUSTOMERS)
def search() -> Any:
    """Check the search and keep it for the results page (POST/redirect/GET): what was typed
    never reaches a URL, and Back does not ask to send a form again."""
    kind = request.form.get("kind", ANY_KIND)
    value = request.form.get("value", "")
    searched = recognise_kind(value) if kind == ANY_KIND else kind
    try:
        check_search(kind, value, today=local_today(now()))
    except ValidationFailed as failure:
        echo = "" if searched == "identity_code" else _safe_echo(value)
        return _render_dashboard(
            kind=kind, searched=searched, value=echo, errors=failure.errors, status=422
        )
    staff_id = staff_context().actor.staff_id
    token = kept_searches.remember(current_keyring(), staff_id, _SEARCH_SLOT, kind, value)
    return redirect(url_for("customers.dashboard", search=token), 303)


def _result_row(customer: Customer) -> dict[str, Any]:
    return {
        "customer": customer,
        "masked_identity_code": services.masked_identity_code(current_keyring(), customer),
        "phone_display": format_phone_local(customer.phone_e164) if customer.phone_e164 else None,
    }


@blueprint.route("/customers/new", methods=["GET", "POST"])
@requires(Permission.EDIT_CUSTOMERS)
def new_customer() -> Any:
    if request.method == "GET":
        return render_template(
            "customers/form.html", mode="new", values={}, errors={}, code_dropped=False
        )
    try:
        customer = services.create_customer(staff_context(), current_keyring(), form=request.form)
    except ValidationFailed as failure:
        return (
            render_template(
                "customers/form.html",
                mode="new",
                values=_form_values(request.form),
                errors=failure.errors,
                code_dropped=bool(request.form.get("identity_code", "").strip()),
            ),
            422,
        )
    flash(gettext("Customer created."), "success")
    return redirect(url_for("customers.customer_page", public_id=customer.public_id))


def _render_customer_page(
    public_id: str,
    *,
    revealed_code: str | None = None,
    purpose: str = "",
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    session = get_session()
    current = now()
    view = services.view_customer(staff_context(), current_keyring(), public_id=public_id)
    return (
        render_template(
            "customers/customer.html",
            view=view,
            customer=view.customer,
            revealed_code=revealed_code,
            purpose=purpose,
            errors=errors or {},
            links=_contact_links(),
            panels=pages.collect(pages.CUSTOMER_PAGE_PANELS, session, view.customer, current),
        ),
        status,
    )


@blueprint.get("/customers/<public_id>")
@requires(Permission.VIEW_CUSTOMERS)
def customer_page(public_id: str) -> Any:
    return _render_customer_page(public_id)


@blueprint.post("/customers/<public_id>/identity-code")
@requires(Permission.REVEAL_IDENTITY_CODE)
def reveal_identity_code(public_id: str) -> Any:
    purpose = request.form.get("purpose", "")
    try:
        code = services.reveal_identity_code(
            staff_context(), current_keyring(), public_id=public_id, purpose=purpose
        )
    except ValidationFailed as failure:
        return _render_customer_page(
            public_id, purpose=_safe_echo(purpose), errors=failure.errors, status=422
        )
    # Shown once in this response only (no-store); a redirect would need it in the URL or
    # in the session cookie.
    return _render_customer_page(public_id, revealed_code=code)


@blueprint.route("/customers/<public_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT_CUSTOMERS)
def edit_customer(public_id: str) -> Any:
    if request.method == "GET":
        # Opening the form shows the customer's data, so it is audited like the page.
        view = services.view_customer(staff_context(), current_keyring(), public_id=public_id)
        return render_template(
            "customers/form.html",
            mode="edit",
            customer=view.customer,
            masked_identity_code=view.masked_identity_code,
            values=_stored_values(view.customer, view.phone_display),
            reason="",
            errors={},
            code_dropped=False,
        )
    customer = services.get_visible_customer(staff_context(), public_id)
    reason = request.form.get("reason", "")
    try:
        changed = rectification.update_customer(
            staff_context(),
            current_keyring(),
            public_id=public_id,
            form=request.form,
            reason=reason,
        )
    except ValidationFailed as failure:
        return (
            render_template(
                "customers/form.html",
                mode="edit",
                customer=customer,
                masked_identity_code=services.masked_identity_code(current_keyring(), customer),
                values={
                    **_form_values(request.form),
                    "clear_identity_code": request.form.get("clear_identity_code", ""),
                },
                reason=_safe_echo(reason),
                errors=failure.errors,
                code_dropped=bool(request.form.get("identity_code", "").strip()),
            ),
            422,
        )
    if changed:
        labels = ", ".join(gettext(FIELD_LABELS.get(name, name)) for name in changed)
        flash(gettext("Customer updated: %(fields)s.", fields=labels), "success")
    else:
        flash(gettext("Nothing was changed."), "info")
    return redirect(url_for("customers.customer_page", public_id=public_id))


def _stored_values(customer: Customer, phone_display: str | None) -> dict[str, str]:
    return {
        "given_names": customer.given_names,
        "family_name": customer.family_name,
        "street_address": customer.street_address or "",
        "postal_code": customer.postal_code or "",
        "city": customer.city or "",
        "country": customer.country or "",
        "phone": phone_display or "",
        "email": customer.email or "",
    }


@blueprint.get("/customers/<public_id>/history")
@requires(Permission.VIEW_CUSTOMERS)
def customer_history(public_id: str) -> Any:
    revisions = rectification.customer_history(
        staff_context(), current_keyring(), public_id=public_id
    )
    return render_template(
        "customers/history.html",
        customer=services.get_visible_customer(staff_context(), public_id),
        revisions=revisions,
        field_labels=FIELD_LABELS,
    )
