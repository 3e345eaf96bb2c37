"""The customer page's "this call" panel: where the screen pop's customer link lands
(`/customers/<id>?call=<call id>`), with the call's own contact to complete.

Shown only to the agent the call is for. When the contact is still unlinked and the caller's
number is this customer's, it offers linking it here in one click (the contacts package's own
link action, with its CSRF token); when it is linked to this customer, it leads to the contact
to add the subject, notes and the identity check. Not audited here: the customer page audits
its own viewing.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import request
from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.contacts.models import Contact
from cs_register.customers.models import Customer
from cs_register.permissions import Permission, has_permission
from cs_register.web import current_staff
from recordings.live_calls import format_caller
from recordings.models import Call

MAX_PUBLIC_ID = 36


def customer_page_panel(session: Session, customer: Customer, current: datetime) -> Markup | None:
    """`pages.CUSTOMER_PAGE_PANELS` provider: the agent's call named by `?call=`, if it
    belongs on this customer's page."""
    public_id = request.args.get("call", "")
    staff = current_staff()
    if not public_id or len(public_id) > MAX_PUBLIC_ID or staff is None:
        return None
    if not has_permission(staff, Permission.LOG_CONTACTS):
        return None
    call = session.scalar(
        sa.select(Call).where(Call.public_id == public_id, Call.agent_id == staff.id)
    )
    if call is None:
        return None
    contact = session.get(Contact, call.contact_id)
    assert contact is not None  # noqa: S101 - calls.contact_id is a non-null foreign key
    linked_here = contact.customer_id == customer.id
    may_link = (
        contact.customer_id is None
        and call.customer_number is not None
        and call.customer_number == customer.phone_e164
    )
    if not (linked_here or may_link):
        return None
    return pages.render_panel(
        "calls/_customer_call_panel.html",
        call=call,
        contact=contact,
        customer=customer,
        caller=format_caller(call.customer_number),
        linked_here=linked_here,
    )
