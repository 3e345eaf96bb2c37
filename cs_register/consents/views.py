"""Prohibitions and consents on the customer page: the panel, and its two forms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.consents import services
from cs_register.consents.models import ChoiceKind, CustomerChoice
from cs_register.consents.topics import ChoiceTopics, label
from cs_register.contacts.models import Contact
from cs_register.customers.models import Customer
from cs_register.errors import Conflict, NotFound, ValidationFailed, translated
from cs_register.languages import N_
from cs_register.permissions import Permission, has_permission
from cs_register.received_via import ReceivedVia
from cs_register.web import current_settings, current_staff, requires, staff_context

blueprint = Blueprint("consents", __name__, template_folder="templates")

# The contacts offered as "recorded during": the customer's of the last few days.
RECENT_CONTACTS = timedelta(days=7)


def _topics() -> ChoiceTopics:
    return ChoiceTopics.of_settings(current_settings())


def _back(public_id: str) -> Any:
    return redirect(url_for("customers.customer_page", public_id=public_id) + "#choices", 303)


def _failed(failure: ValidationFailed | Conflict | NotFound) -> None:
    if isinstance(failure, ValidationFailed):
        for messages in failure.errors.values():
            for message in messages:
                flash(translated(message), "error")
    else:
        flash(translated(failure.detail), "error")


# What recording or ending a choice says, by the choice's kind; `%(what)s` is its topic.
_RECORDED = {
    ChoiceKind.PROHIBITION: N_("Recorded: the %(what)s prohibition is in force."),
    ChoiceKind.CONSENT: N_("Recorded: the %(what)s consent is given."),
}
_ENDED = {
    ChoiceKind.PROHIBITION: N_("Recorded: the %(what)s prohibition was lifted."),
    ChoiceKind.CONSENT: N_("Recorded: the %(what)s consent was withdrawn."),
}


def _recorded(public_id: str, choice: CustomerChoice, messages: dict[ChoiceKind, str]) -> Any:
    """Back to the customer page, saying what was recorded (one of `messages`)."""
    what = translated(label(choice.topic)).lower()
    flash(gettext(messages[choice.kind], what=what), "success")
    return _back(public_id)


@blueprint.post("/customers/<public_id>/choices")
@requires(Permission.LOG_CONTACTS)
def record_choice(public_id: str) -> Any:
    kind, _, topic = request.form.get("choice", "").partition(":")
    try:
        choice = services.record_choice(
            staff_context(),
            _topics(),
            customer_public_id=public_id,
            kind=kind,
            topic=topic,
            channel=request.form.get("channel", ""),
            contact_public_id=request.form.get("contact") or None,
        )
    except (ValidationFailed, Conflict) as failure:
        _failed(failure)
        return _back(public_id)
    return _recorded(public_id, choice, _RECORDED)


@blueprint.post("/customers/<public_id>/choices/<choice_public_id>/end")
@requires(Permission.LOG_CONTACTS)
def end_choice(public_id: str, choice_public_id: str) -> Any:
    try:
        choice = services.end_choice(
            staff_context(),
            customer_public_id=public_id,
            choice_public_id=choice_public_id,
            channel=request.form.get("channel", ""),
        )
    except (ValidationFailed, Conflict, NotFound) as failure:
        _failed(failure)
        return _back(public_id)
    return _recorded(public_id, choice, _ENDED)


def customer_page_panel(session: Session, customer: Customer, current: datetime) -> Markup:
    """The customer page's prohibitions and consents (`pages.CUSTOMER_PAGE_PANELS`). Not
    audited here: the customer page audits its own viewing."""
    staff = current_staff()
    topics = _topics()
    choices = services.choices_of(session, customer.id)
    in_force = {(c.kind, c.topic) for c in choices if c.in_force}
    recent = session.scalars(
        sa.select(Contact)
        .where(Contact.customer_id == customer.id, Contact.occurred_at >= current - RECENT_CONTACTS)
        .order_by(Contact.occurred_at.desc())
        .limit(10)
    ).all()
    offered = [
        (kind, topic)
        for kind in ChoiceKind
        for topic in topics.of(kind)
        if (kind, topic) not in in_force
    ]
    return pages.render_panel(
        "consents/_customer_panel.html",
        customer=customer,
        choices=choices,
        offered=offered,
        channels=list(ReceivedVia),
        recent_contacts=recent,
        label=label,
        can_record=staff is not None and has_permission(staff, Permission.LOG_CONTACTS),
    )
