"""Console pages of the intake: the queue of chatbot conversations handed over to a human."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for

from cs_register.db import get_session
from cs_register.errors import Conflict
from cs_register.intake import chatbot
from cs_register.permissions import Permission
from cs_register.web import now, request_id, require_staff, requires

blueprint = Blueprint("intake", __name__, template_folder="templates")


@blueprint.get("/handovers")
@requires(Permission.LOG_CONTACTS)
def handover_queue() -> Any:
    handovers = chatbot.open_handovers(get_session(), actor=require_staff(), now=now())
    return render_template("intake/handovers.html", handovers=handovers)


@blueprint.post("/handovers/<public_id>/close")
@requires(Permission.LOG_CONTACTS)
def close_handover(public_id: str) -> Any:
    try:
        chatbot.close_handover(
            get_session(),
            contact_public_id=public_id,
            actor=require_staff(),
            now=now(),
            request_id=request_id(),
        )
    except Conflict as conflict:
        flash(conflict.detail, "warning")
        return redirect(url_for("intake.handover_queue"))
    flash("Handover closed; it has left the queue.", "success")
    return redirect(url_for("intake.handover_queue"))
