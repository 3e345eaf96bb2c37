"""The agent's own calls on the console: the screen pop's JSON (`GET /console/live-call`,
polled by `static/screen_pop.js`) and the page it degrades to (`GET /console/calls`).

Only agents and supervisors take calls (`log_contacts`); each sees only their own. Neither the
JSON nor any link carries an identity code: customers are named with the masked code the rest
of the console shows, and linked by public id.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, url_for

from cs_register.clock import local_time
from cs_register.permissions import Permission
from cs_register.web import background, current_keyring, requires, staff_context
from recordings import live_calls
from recordings.live_calls import AgentCall

blueprint = Blueprint("calls", __name__, template_folder="templates")


def customer_url(customer_public_id: str, call: AgentCall) -> str:
    """The customer's page, showing this call's contact to complete (`recordings.call_panel`)."""
    return url_for(
        "customers.customer_page", public_id=customer_public_id, call=call.call.public_id
    )


def _pop(shown: AgentCall) -> dict[str, Any]:
    return {
        "call_id": shown.call.public_id,
        "state": shown.state,
        "since": local_time(shown.since),
        "caller": shown.caller,
        "withheld": shown.call.customer_number is None,
        "contact_url": url_for("contacts.contact_page", public_id=shown.contact.public_id),
        "contact_linked": shown.contact.customer_id is not None,
        "customers": [
            {
                "name": customer.name,
                "masked_identity_code": customer.masked_identity_code,
                "linked": customer.linked,
                "url": customer_url(customer.public_id, shown),
            }
            for customer in shown.customers
        ],
    }


@blueprint.get("/console/live-call")
@background
@requires(Permission.LOG_CONTACTS)
def live_call() -> Any:
    shown = live_calls.live_call(staff_context(), current_keyring())
    return jsonify(
        {"call": _pop(shown) if shown is not None else None, "calls_url": url_for(".recent_calls")}
    )


@blueprint.get("/console/calls")
@requires(Permission.LOG_CONTACTS)
def recent_calls() -> Any:
    calls = live_calls.recent_calls(staff_context(), current_keyring())
    return render_template(
        "calls/recent.html", calls=calls, customer_url=customer_url, window=live_calls.RECENT_PERIOD
    )
