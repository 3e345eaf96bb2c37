"""Console pages of the intake: the queue of chatbot conversations handed over to a human,
and the email or chat card on a contact's page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.contacts.models import Channel, Contact
from cs_register.errors import Conflict
from cs_register.intake import handovers
from cs_register.intake.email import email_details
from cs_register.permissions import Permission
from cs_register.web import requires, staff_context

blueprint = Blueprint("intake", __name__, template_folder="templates")


@blueprint.get("/handovers")
@requires(Permission.LOG_CONTACTS)
def handover_queue() -> Any:
    queue = handovers.open_handovers(staff_context())
    return render_template("intake/handovers.html", handovers=queue)


@blueprint.post("/handovers/<public_id>/close")
@requires(Permission.LOG_CONTACTS)
def close_handover(public_id: str) -> Any:
    try:
        handovers.close_handover(staff_context(), contact_public_id=public_id)
    except Conflict as conflict:
        flash(conflict.detail, "warning")
        return redirect(url_for("intake.handover_queue"))
    flash("Handover closed; it has left the queue.", "success")
    return redirect(url_for("intake.handover_queue"))


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
