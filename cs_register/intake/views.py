"""Console pages of the intake: the queue of chatbot conversations handed over to a human,
and the email or chat card on a contact's page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.contacts.models import Channel, Contact
from cs_register.db import get_session
from cs_register.errors import Conflict, ValidationFailed, translated
from cs_register.free_text import echo_safely
from cs_register.intake import handover_steps, handovers
from cs_register.intake.email import email_details
from cs_register.intake.handovers import QueueFilter
from cs_register.intake.models import HandoverOutcome
from cs_register.permissions import Permission
from cs_register.web import background, requires, staff_context

blueprint = Blueprint("intake", __name__, template_folder="templates")


def _shown() -> QueueFilter:
    return QueueFilter.parse(request.values.get("show"))


def _queue_values(show: QueueFilter) -> dict[str, Any]:
    """What the queue's table needs: its rows, the colleagues one can be given to, and a digest
    the page's script compares to redraw only what changed."""
    rows = handovers.list_handovers(staff_context(), show=show)
    assignees = handovers.assignable_staff(get_session())
    return {
        "handovers": rows,
        "assignees": assignees,
        "show": show,
        "state": handovers.queue_state(rows, assignees),
    }


def _render_queue(show: QueueFilter, *, problem: str | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "intake/handovers.html",
            filters=list(QueueFilter),
            problem=problem,
            **_queue_values(show),
        ),
        status,
    )


def _back_to_queue() -> Any:
    return redirect(url_for("intake.handover_queue", show=_shown().value), 303)


@blueprint.get("/handovers")
@requires(Permission.LOG_CONTACTS)
def handover_queue() -> Any:
    return _render_queue(_shown())


@blueprint.get("/handovers/table")
@requires(Permission.LOG_CONTACTS)
@background
def handover_table() -> Any:
    """The queue's table alone, as HTML, for static/handovers.js to swap in every few
    seconds. The filter is the only parameter: nothing about a customer is in the URL. A
    background request: a queue left open must not keep an idle session alive."""
    return render_template("intake/_handover_table.html", **_queue_values(_shown()))


def _queue_step(step: Callable[[], bool], *, done: str, unchanged: str) -> Any:
    """Run one step on a handover from the queue. A refusal is shown on the queue as it is
    now, not as a flash after a redirect: the agent sees at once who has it."""
    try:
        changed = step()
    except ValidationFailed as failure:
        detail = "; ".join(
            translated(message) for messages in failure.errors.values() for message in messages
        )
        return _render_queue(_shown(), problem=detail, status=422)
    except Conflict as conflict:
        return _render_queue(_shown(), problem=translated(conflict.detail), status=409)
    flash(done if changed else unchanged, "success")
    return _back_to_queue()


@blueprint.post("/handovers/<public_id>/claim")
@requires(Permission.LOG_CONTACTS)
def claim_handover(public_id: str) -> Any:
    return _queue_step(
        lambda: handover_steps.claim_handover(staff_context(), contact_public_id=public_id),
        done=gettext("The handover is yours."),
        unchanged=gettext("You already had this handover."),
    )


@blueprint.post("/handovers/<public_id>/release")
@requires(Permission.LOG_CONTACTS)
def release_handover(public_id: str) -> Any:
    return _queue_step(
        lambda: handover_steps.release_handover(staff_context(), contact_public_id=public_id),
        done=gettext("Back in the queue."),
        unchanged=gettext("Nobody had this handover."),
    )


@blueprint.post("/handovers/<public_id>/assign")
@requires(Permission.ASSIGN_HANDOVERS)
def assign_handover(public_id: str) -> Any:
    return _queue_step(
        lambda: handover_steps.assign_handover(
            staff_context(), contact_public_id=public_id, staff_id=request.form.get("staff_id")
        ),
        done=gettext("Handover assigned."),
        unchanged=gettext("It was already theirs."),
    )


@blueprint.route("/handovers/<public_id>/close", methods=["GET", "POST"])
@requires(Permission.LOG_CONTACTS)
def close_handover(public_id: str) -> Any:
    """The outcome form (on its own page, so the queue's refresh never wipes a note being
    typed) and its submission."""
    if request.method == "GET":
        return _render_close_form(public_id)
    typed = {name: request.form.get(name, "") for name in ("outcome", "outcome_note")}
    try:
        closed = handover_steps.close_handover(
            staff_context(),
            contact_public_id=public_id,
            outcome=typed["outcome"],
            note=typed["outcome_note"],
        )
    except ValidationFailed as failure:
        # The note comes back as typed, except for an identity code: never echoed.
        values = {name: echo_safely(value) for name, value in typed.items()}
        return _render_close_form(public_id, values=values, errors=failure.errors, status=422)
    except Conflict as conflict:
        return _render_queue(_shown(), problem=translated(conflict.detail), status=409)
    flash(
        gettext("Handover closed; it has left the queue.")
        if closed
        else gettext("This handover was already closed."),
        "success",
    )
    return _back_to_queue()


def _render_close_form(
    public_id: str,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    session = get_session()
    handover = handover_steps.find_handover(staff_context(), public_id)
    details = handovers.conversation_details(session, handover.contact.id)
    return (
        render_template(
            "intake/close_handover.html",
            contact=handover.contact,
            details=details,
            outcomes=list(HandoverOutcome),
            values=values or {},
            errors=errors or {},
            show=_shown(),
            max_length=handover_steps.OUTCOME_NOTE_MAX_LENGTH,
        ),
        status,
    )


def contact_page_panel(
    session: Session, contact: Contact, now: datetime, extra: Mapping[str, Any]
) -> Markup | None:
    """The email or the chatbot conversation behind a contact (`pages.CONTACT_PAGE_PANELS`).

    Shown only on the contact page, whose view is already audited and permission-checked.
    """
    if contact.channel is Channel.EMAIL:
        details = email_details(session, contact.id)
        return pages.render_panel("intake/_contact_email.html", email_details=details)
    if contact.channel is Channel.CHATBOT:
        conversation = handovers.conversation_details(session, contact.id)
        return pages.render_panel("intake/_contact_chatbot.html", chatbot_details=conversation)
    return None
